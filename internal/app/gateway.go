package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/gateway"
	"github.com/fleetgov/fleetgov/internal/gateway/mcpproxy"
	"github.com/fleetgov/fleetgov/internal/gateway/modelproxy"
	"github.com/fleetgov/fleetgov/internal/gateway/skills"
	"github.com/fleetgov/fleetgov/internal/gateway/vector"
)

// sweepInterval is how often the gateway looks for reservations that no
// call will settle any more.
const sweepInterval = time.Minute

// mountGateway serves the gateway's proxies under /gateway/ and starts the
// reservation sweeper, which stops with ctx.
func mountGateway(ctx context.Context, root *http.ServeMux, plane *control.Plane, log *slog.Logger) {
	gw := gateway.New(plane, gateway.Options{Logger: log})
	models := modelproxy.New(gw, modelproxy.Options{})
	root.Handle(modelproxy.Prefix+"/", models.Handler())
	tools := mcpproxy.New(gw, mcpproxy.Options{})
	root.Handle(mcpproxy.Prefix, tools.Handler())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		tools.Shutdown(sctx)
	}()
	root.Handle(vector.Prefix+"/", vector.New(gw, vector.Options{}).Handler())
	sk := skills.New(gw, skills.Options{}).Handler()
	root.Handle(skills.Prefix, sk)
	root.Handle(skills.Prefix+"/", sk)
	go models.RunSweeper(ctx, sweepInterval)
}
