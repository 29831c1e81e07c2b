// Package examples holds ready-to-use pgduet configs (the *.hcl files beside this
// one) and embeds them, so `pgduet demo` runs exactly the config the README shows
// and the tests decode every example.
package examples

import "embed"

// Files holds every example config.
//
//go:embed *.hcl
var Files embed.FS

// Localhost is the two-node loopback config that `pgduet demo` runs.
func Localhost() []byte {
	b, err := Files.ReadFile("localhost.hcl")
	if err != nil {
		panic("examples: localhost.hcl is embedded at build time: " + err.Error())
	}
	return b
}
