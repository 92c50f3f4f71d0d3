// Package static implements a gRPC name resolver, scheme "static", for a
// fixed or file-managed list of backends.
//
// Not every deployment has a service registry or DNS records that list its
// backends. On a laptop the backends are a few local processes; on VMs
// managed by Ansible, Puppet or Chef the list lives in the configuration
// management; next to a sidecar or an agent (consul-template, a Kubernetes
// operator, a cron job) the list is a file that something else keeps up to
// date. This package lets a grpc.ClientConn balance over such a list with the
// usual load-balancing policies (round_robin, pick_first, ...), without a
// hand-written resolver and without a DNS server.
//
// Importing the package registers a resolver for the "static" scheme with
// default Options. Use NewBuilder with grpc.WithResolvers for other options.
//
// # Targets
//
// A fixed list, published once:
//
//	static:///10.0.0.1:50051,10.0.0.2:50051,[::1]:50051
//
// Every address is host:port. IPv6 addresses go in brackets. Host names are
// passed to the dialer as given; they are not resolved by this package.
//
// A file, watched by polling:
//
//	static:///?file=/etc/myapp/backends.txt
//	static:///?file=/etc/myapp/backends.txt&interval=500ms
//
// The file is read when the resolver is built and re-read every interval
// (default Options.Interval, which defaults to 1s; the minimum is 50ms), or at
// once when gRPC asks the resolver to re-resolve. When its content changes,
// the new full list is published. Both in-place edits and an atomic rename of
// a new file onto the path are seen; the rename is preferable, because a
// reader can see a half-written file in the middle of an in-place edit.
//
// The file holds one address per line; several comma-separated addresses on
// one line are also accepted. A '#' starts a comment that runs to the end of
// the line, and blank lines are ignored:
//
//	# backends of myapp, written by config management
//	10.0.0.1:50051
//	10.0.0.2:50051, 10.0.0.3:50051
//	[fd00::5]:50051   # the IPv6 one
//	backend-7.internal:50051
//
// # Validation and errors
//
// Every address must be host:port with a non-empty host and a numeric port in
// 1..65535. Duplicate addresses are dropped, keeping the first. IP addresses
// and ports are published in canonical form (e.g. "[::1]:80" for "[0::1]:080").
// Unknown query parameters are an error.
//
// An invalid target makes Build fail with an error that says what is wrong.
// A file that is missing, unreadable, malformed or empty before any good
// list was read is reported to the channel, so calls fail with the reason,
// for example
//
//	static: line 3 of /etc/myapp/backends.txt: "10.0.0.1" has no port
//
// and the resolver keeps watching: when the file is fixed, the channel
// recovers by itself. (grpc.NewClient builds the resolver lazily, so a bad
// target's error is returned by the first RPC, not by NewClient.)
//
// Once a good list has been published, a bad re-read (the file is missing or
// unreadable, has a bad line, or is empty) does not change what the channel
// uses: the last good list is kept, and the problem is logged with
// Options.Logger. An empty file is only published as an empty list when
// Options.AllowEmpty is set.
package static
