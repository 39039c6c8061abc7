package gearman_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/seed749d6d6d/gearman/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Main(m)) }
