package main

import (
	"testing"

	"github.com/seed749d6d6d/gearman/internal/peertest"
)

func TestMain(m *testing.M) { peertest.RunMain(m) }
