package moqt_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: Close
// and Shutdown must leave nothing behind.
func TestMain(m *testing.M) { os.Exit(verifyNoLeaks(m)) }

// verifyNoLeaks runs the tests, then checks that no goroutine is left. It
// allows 10 s for stragglers to end: quic-go keeps a closed listener's
// socket and goroutines until its last connection has finished closing,
// which can take longer than goleak's own retries.
func verifyNoLeaks(m *testing.M) int {
	code := m.Run()
	if code != 0 {
		return code
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := goleak.Find()
		if err == nil {
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left after the tests: %v\n", err)
			return 1
		}
		time.Sleep(200 * time.Millisecond)
	}
}
