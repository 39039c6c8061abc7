//go:build unix

package main

import (
	"os"
	"syscall"
)

// stopSignals close the server at once; gracefulSignals shut it down
// gracefully, as gearmand does on SIGUSR1; hangupSignals reopen the log
// file.
var (
	stopSignals     = []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	gracefulSignals = []os.Signal{syscall.SIGUSR1}
	hangupSignals   = []os.Signal{syscall.SIGHUP}
)

func isGraceful(sig os.Signal) bool { return sig == syscall.SIGUSR1 }

func isHangup(sig os.Signal) bool { return sig == syscall.SIGHUP }
