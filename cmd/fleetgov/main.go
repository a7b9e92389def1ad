// Command fleetgov is the governance plane for fleets of AI agents: the
// control plane, the gateway and the governance agents (fleetgov serve), and
// the commands tenant CI and operators run (fleetgov spec check, fleetgov
// library diff, fleetgov library lint). Run fleetgov help for the list.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/fleetgov/fleetgov/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
