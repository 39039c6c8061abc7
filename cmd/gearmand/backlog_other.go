//go:build !unix

package main

import (
	"errors"
	"fmt"
	"net"
)

// setBacklog cannot set the backlog here: Go has no option for it.
func setBacklog(net.Listener, int) error {
	return fmt.Errorf("the backlog cannot be set on this system: %w", errors.ErrUnsupported)
}
