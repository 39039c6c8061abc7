// Package srvhook lets this module's tests reach into a gearman.Server
// without widening its public API: the root package fills in the hooks at
// init time.
package srvhook

import "github.com/seed749d6d6d/gearman/internal/clock"

// SetClock, set by package gearman, makes a *gearman.Server (passed as any)
// use c for every reading of the time and every timer. It must be called
// before the server's first use.
var SetClock func(server any, c clock.Clock)
