// Package gctune sets the Go garbage collector for fleetgov serve.
//
// A request through the MCP Go SDK allocates several short-lived 32 KiB
// decode buffers, so a server at load spends much of its time collecting
// garbage that is dead on arrival. With GOGC at 400 instead of 100 the heap
// may grow to five times the live heap (tens of MiB for fleetgov) before a
// cycle, and the collector runs a quarter as often. An operator's own GOGC
// or GOMEMLIMIT always wins.
package gctune

import (
	"os"
	"runtime/debug"
)

// Percent is the GOGC fleetgov serve runs with unless GOGC is set.
const Percent = 400

// Apply sets the collector's target percentage to Percent unless the
// environment sets GOGC, or sets GOMEMLIMIT without GOGC (an operator who
// bounds memory chooses the trade-off). It returns the percentage in force
// and whether Apply changed it.
func Apply() (percent int, changed bool) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return Current(), false
	}
	debug.SetGCPercent(Percent)
	return Percent, true
}

// Current returns the collector's target percentage in force (-1: off).
func Current() int {
	p := debug.SetGCPercent(-1) // the runtime has no getter
	debug.SetGCPercent(p)
	return p
}
