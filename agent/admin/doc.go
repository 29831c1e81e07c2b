// Package admin serves an agent's operator endpoint (SPEC §9), on loopback by
// default: /status (both directions as JSON), /healthz (200 while no direction
// has failed) and /metrics (Prometheus text format). It reads the agent's state
// and never changes it; it sits beside the data path, not in it.
package admin
