//go:build !unix

package main

import "os"

// stopSignals close the server at once; there is no graceful or hangup
// signal here.
var (
	stopSignals     = []os.Signal{os.Interrupt}
	gracefulSignals []os.Signal
	hangupSignals   []os.Signal
)

func isGraceful(os.Signal) bool { return false }

func isHangup(os.Signal) bool { return false }
