// Package srvhook lets this module's tests, and package gearmantest, reach
// into a gearman.Server without widening its public API: the root package
// fills in the hooks at init time.
package srvhook

import (
	"github.com/seed749d6d6d/gearman/internal/clock"
	"github.com/seed749d6d6d/gearman/internal/jobserver"
)

// SetClock, set by package gearman, makes a *gearman.Server (passed as any)
// use c for every reading of the time and every timer. It must be called
// before the server's first use.
var SetClock func(server any, c clock.Clock)

// SetObserver, set by package gearman, makes a *gearman.Server (passed as
// any) report its changes and submits to o. It must be called before the
// server's first use.
var SetObserver func(server any, o jobserver.Observer)

// Engine, set by package gearman, returns the engine of a *gearman.Server
// (passed as any), building it if need be: after that the server's
// configuration is fixed.
var Engine func(server any) *jobserver.Server
