package kube

import (
	"fmt"

	"google.golang.org/grpc/resolver"
)

// CheckTarget parses t and its options as Build does, without a client or
// a watch: a malformed target is a config error at load time (grpclb proxy
// checks its clusters' targets so). A missing kubeconfig is not checked:
// the config may be meant for a pod; Build reports it.
func (b *Builder) CheckTarget(t resolver.Target) error {
	pt, err := parseTarget(t.URL, b.opts)
	if err == nil {
		_, err = pt.opts.withDefaults()
	}
	if err != nil {
		return fmt.Errorf("kubernetes: target %q: %w", t.URL.String(), err)
	}
	return nil
}
