package certs

import (
	"testing"

	"go.uber.org/goleak"
)

// pebbleVA is the one goroutine allowed to outlive the tests: every
// in-process Pebble's validation authority starts a task loop that has no
// way to stop (va.New starts it; VAImpl has no Close).
var pebbleVA = goleak.IgnoreTopFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks")

// TestMain fails the package's tests if any goroutine of ours outlives
// them. Each test checks its own too (leakCheck).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, pebbleVA) }

// leakCheck fails t if a goroutine started during t outlives it.
func leakCheck(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt, pebbleVA) })
}
