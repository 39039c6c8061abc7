// Package srvhook lets this module's tests, and package gearmantest, reach
// into a gearman.Server without widening its public API.
//
// A gearman.Server embeds a [State] under a name of its own package, so
// that *gearman.Server has State's unexported method and is a [Server],
// the one type that is: the hooks take a Server, not any, and a call with
// anything else does not compile.
package srvhook

import (
	"github.com/seed749d6d6d/gearman/internal/clock"
	"github.com/seed749d6d6d/gearman/internal/jobserver"
)

// Server is a *gearman.Server.
type Server interface{ hookState() *State }

// State is what the hooks set in a server. Its fields are unexported so
// that embedding it adds nothing to gearman.Server's API.
type State struct {
	clock    clock.Clock
	observer jobserver.Observer
}

func (s *State) hookState() *State { return s }

// SetClock makes s use c for every reading of the time and every timer. It
// must be called before the server's first use.
func SetClock(s Server, c clock.Clock) { s.hookState().clock = c }

// SetObserver makes s report its changes and submits to o. It must be
// called before the server's first use.
func SetObserver(s Server, o jobserver.Observer) { s.hookState().observer = o }

// Clock returns the clock SetClock set, or nil.
func Clock(s Server) clock.Clock { return s.hookState().clock }

// Observer returns the observer SetObserver set, or nil.
func Observer(s Server) jobserver.Observer { return s.hookState().observer }

// Engine, set by package gearman at init, returns the engine of s,
// building it if need be: after that the server's configuration is fixed.
// (It is the one hook package gearman implements: reaching the Server's
// configuration needs its own code.)
var Engine func(s Server) *jobserver.Server
