package moqt_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: Close
// and Shutdown must leave nothing behind. Each forEach test also checks its
// own (leakCheck).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
