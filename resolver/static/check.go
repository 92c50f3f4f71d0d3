package static

import "google.golang.org/grpc/resolver"

// CheckTarget parses t as Build does, without reading a backends file or
// publishing anything: a malformed target is a config error at load time
// (grpclb proxy checks its clusters' targets so).
func (b *builder) CheckTarget(t resolver.Target) error {
	_, err := parseTarget(t)
	return err
}
