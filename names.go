package gearman

import (
	"errors"
	"fmt"

	"github.com/seed749d6d6d/gearman/wire"
)

// ErrInvalidName means a function name or a client id was refused before
// anything was sent; the error is a [*NameError].
var ErrInvalidName = errors.New("gearman: invalid name")

// errEmptyName is the reason an empty function name is refused.
var errEmptyName = errors.New("empty")

// NameError is the error for a function name or client id that this
// package refuses to send: an empty function name, or a name holding a
// byte that would break the job server's admin text protocol (a space or a
// control character in a function name, a control character in a client
// id; see [wire.ValidFunctionName] and [wire.ValidClientID]), which this
// package's [Server] refuses too. It matches [ErrInvalidName] with
// [errors.Is], and [wire.ErrBadName] for such a byte. A submit that fails
// with it was sent nowhere ([SafeToRetry] is true), and fails the same way
// everywhere.
type NameError struct {
	What string // "function name", "reducer" or "client id"
	Name string // the name refused
	Err  error  // why: an error wrapping wire.ErrBadName, or one saying the name is empty
}

// Error returns "gearman: invalid function name "a b": ..." with the reason.
func (e *NameError) Error() string {
	return fmt.Sprintf("gearman: invalid %s %q: %v", e.What, e.Name, e.Err)
}

// Unwrap returns [ErrInvalidName] and the reason.
func (e *NameError) Unwrap() []error { return []error{ErrInvalidName, e.Err} }

// checkFunctionName returns a *NameError when name, a function name (what
// says which: "function name" or "reducer"), cannot be sent.
func checkFunctionName(what, name string) error {
	if name == "" {
		return &NameError{What: what, Name: name, Err: errEmptyName}
	}
	if err := wire.ValidFunctionName([]byte(name)); err != nil {
		return &NameError{What: what, Name: name, Err: err}
	}
	return nil
}

// checkClientID returns a *NameError when id cannot be sent as a client id.
func checkClientID(id string) error {
	if err := wire.ValidClientID([]byte(id)); err != nil {
		return &NameError{What: "client id", Name: id, Err: err}
	}
	return nil
}
