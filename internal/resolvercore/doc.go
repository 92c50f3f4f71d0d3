// Package resolvercore is what grpclb's resolvers (dnspoll, static, kube,
// consul, etcd) share, so that each keeps only the code that reads its
// source.
//
// The problem it solves: every resolver must decide what to tell its
// channel when the source answers, answers with nothing, or does not
// answer at all; and four hand-written copies of those rules had drifted
// apart (one kept its record of a set the channel rejected, one published
// an empty set before ever publishing a real one, which grpc-go's
// endpointsharding turns into "no children to pick from" and the reason is
// lost). A Publisher holds the rules once:
//
//   - a set is published only when it differs from the last one the
//     channel accepted; a rejected set is sent again with the next answer;
//   - until a set has ever been published, an empty answer or a failure is
//     reported to the channel alone (ReportError), so callers see why;
//   - afterwards a failure keeps the last good set, and an empty answer
//     keeps it too unless the resolver was asked to publish empty sets
//     (then the empty set is published and the reason reported after it,
//     for policies that keep the last resolver error for their picker);
//   - each problem is logged once, and its end once (Recovered).
//
// Backoff and Sleep are the retry timing the resolvers share; Go runs a
// resolver's goroutine, Wake asks it for a round now, and NewBuilder
// parses a target, fills in its defaults and starts its resolver. Everything
// here uses the time package directly, so tests run it on testing/synctest's
// virtual clock.
package resolvercore
