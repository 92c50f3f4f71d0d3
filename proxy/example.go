package proxy

import _ "embed" // ExampleConfig

// ExampleConfig is a commented example config file, every field shown
// (testdata/example.yaml; `grpclb proxy --help` prints it).
//
//go:embed testdata/example.yaml
var ExampleConfig string
