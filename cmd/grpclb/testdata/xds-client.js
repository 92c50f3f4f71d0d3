// A gRPC client in another language for grpclb xds's tests: grpc-js with
// @grpc/grpc-js-xds, following the control plane named by the bootstrap in
// GRPC_XDS_BOOTSTRAP. It reads commands on stdin, one a line, and answers
// each with one JSON line on stdout:
//
//   chan NAME TARGET      open a channel (xds:///svc)        -> {"ok":true}
//   call NAME N [KEY]     N Echo calls in turn, with header
//                         x-user: KEY when given              -> {"by":{"b0":n,...},"failed":k,"error":"..."}
//   quit                  close the channels and exit
//
// Usage: NODE_PATH=.../node_modules node xds-client.js path/to/echo.proto
'use strict';
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const readline = require('readline');
require('@grpc/grpc-js-xds').register();

const def = protoLoader.loadSync(process.argv[2], {});
const Echo = grpc.loadPackageDefinition(def).grpclb.testbed.v1.Echo;
const channels = new Map();

function echo(client, key) {
  return new Promise((resolve) => {
    const md = new grpc.Metadata();
    if (key) md.set('x-user', key);
    client.Echo({}, md, { deadline: Date.now() + 2000 }, (err, resp) => resolve(err ? { err } : { backend: resp.backend }));
  });
}

async function handle(line) {
  const [cmd, name, arg, key] = line.trim().split(/\s+/);
  switch (cmd) {
    case 'chan':
      channels.set(name, new Echo(arg, grpc.credentials.createInsecure()));
      return { ok: true };
    case 'call': {
      const client = channels.get(name);
      if (!client) return { error: `no channel ${name}` };
      const out = { by: {}, failed: 0 };
      for (let i = 0; i < Number(arg); i++) {
        const r = await echo(client, key);
        if (r.err) {
          out.failed++;
          out.error = out.error || `${r.err.code}: ${r.err.details}`;
        } else {
          out.by[r.backend] = (out.by[r.backend] || 0) + 1;
        }
      }
      return out;
    }
    case 'quit':
      for (const c of channels.values()) c.close();
      process.exit(0);
    default:
      return { error: `unknown command ${cmd}` };
  }
}

// Commands run one at a time, in order.
let queue = Promise.resolve();
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  queue = queue.then(() => handle(line)).then((r) => process.stdout.write(JSON.stringify(r) + '\n'));
}).on('close', () => queue.then(() => process.exit(0)));
