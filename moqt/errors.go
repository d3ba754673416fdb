package moqt

import (
	"errors"
	"fmt"

	"github.com/gomoq/gomoq/quic"
)

// Sentinel errors.
var (
	// ErrServerClosed is returned by the Server's serving methods after a
	// call to Close or Shutdown.
	ErrServerClosed = errors.New("moqt: server closed")
	// ErrClientClosed is returned by Client.Dial after Close or Shutdown.
	ErrClientClosed = errors.New("moqt: client closed")
	// ErrClosedSession is returned by operations on a session that has ended.
	ErrClosedSession = errors.New("moqt: session closed")
	// ErrInvalidScheme is returned by Client.Dial for a URL whose scheme is
	// not https, http or moqt.
	ErrInvalidScheme = errors.New("moqt: invalid URL scheme (want https://, http:// or moqt://)")
	// ErrClosedTrack is returned when writing to a track or group that has
	// been closed.
	ErrClosedTrack = errors.New("moqt: track closed")
	// ErrClosedGroup is returned when writing to a group that has been closed.
	ErrClosedGroup = errors.New("moqt: group closed")
)

// SessionErrorCode is a code carried when a whole session is terminated.
type SessionErrorCode uint32

// Session error codes (moq-lite's session registry).
const (
	NoError                  SessionErrorCode = 0x0
	InternalSessionError     SessionErrorCode = 0x1
	UnauthorizedSessionError SessionErrorCode = 0x2
	ProtocolViolationError   SessionErrorCode = 0x3
	GoawayTimeoutError       SessionErrorCode = 0x10
	SetupTimeoutError        SessionErrorCode = 0x11
	VersionNegotiationError  SessionErrorCode = 0x15
)

// String returns the code's name.
func (c SessionErrorCode) String() string {
	switch c {
	case NoError:
		return "no error"
	case InternalSessionError:
		return "internal error"
	case UnauthorizedSessionError:
		return "unauthorized"
	case ProtocolViolationError:
		return "protocol violation"
	case GoawayTimeoutError:
		return "goaway timeout"
	case SetupTimeoutError:
		return "timeout"
	case VersionNegotiationError:
		return "version negotiation failed"
	}
	if c >= 64 {
		return fmt.Sprintf("application error %d", c-64)
	}
	return fmt.Sprintf("unknown session error 0x%x", uint32(c))
}

// SessionError reports that a session ended, with the code and reason it was
// ended with and which side ended it.
type SessionError struct {
	Code   SessionErrorCode
	Reason string
	Remote bool
}

func (e *SessionError) Error() string {
	who := "local"
	if e.Remote {
		who = "remote"
	}
	if e.Reason != "" {
		return fmt.Sprintf("moqt: session terminated (%s): %s: %s", who, e.Code, e.Reason)
	}
	return fmt.Sprintf("moqt: session terminated (%s): %s", who, e.Code)
}

// Is reports whether target is ErrClosedSession: every SessionError means the
// session is closed.
func (e *SessionError) Is(target error) bool { return target == ErrClosedSession }

// StreamErrorCode is a code carried when a single stream (a subscription, an
// announcement stream or a group) is reset.
type StreamErrorCode uint32

// Stream error codes (moq-lite's stream registry).
const (
	InternalStreamError  StreamErrorCode = 0x0
	CancelledError       StreamErrorCode = 0x1
	DeliveryTimeoutError StreamErrorCode = 0x2
	SessionClosedError   StreamErrorCode = 0x3
	GoingAwayError       StreamErrorCode = 0x4
	TooFarBehindError    StreamErrorCode = 0x5
	MalformedTrackError  StreamErrorCode = 0x12
	NotFoundError        StreamErrorCode = 0x33
	OldGroupError        StreamErrorCode = 0x34
	UnroutableError      StreamErrorCode = 0x36
	WrongSizeError       StreamErrorCode = 0x37
	FrameTooLargeError   StreamErrorCode = 0x38
	UnauthorizedError    StreamErrorCode = 0x3a
	// ProtocolViolationStreamError resets a stream whose bytes could not be
	// parsed (unknown stream types included).
	ProtocolViolationStreamError StreamErrorCode = 0x3b
	// TooManyError resets a stream that exceeded a per-session limit
	// (subscriptions, announce streams).
	TooManyError StreamErrorCode = 0x3c
)

// String returns the code's name.
func (c StreamErrorCode) String() string {
	switch c {
	case InternalStreamError:
		return "internal error"
	case CancelledError:
		return "cancelled"
	case DeliveryTimeoutError:
		return "delivery timeout"
	case SessionClosedError:
		return "session closed"
	case GoingAwayError:
		return "going away"
	case TooFarBehindError:
		return "too far behind"
	case MalformedTrackError:
		return "malformed track"
	case NotFoundError:
		return "not found"
	case OldGroupError:
		return "old group"
	case UnroutableError:
		return "unroutable"
	case WrongSizeError:
		return "wrong frame size"
	case FrameTooLargeError:
		return "frame too large"
	case UnauthorizedError:
		return "unauthorized"
	case ProtocolViolationStreamError:
		return "protocol violation"
	case TooManyError:
		return "too many"
	}
	if c >= 64 {
		return fmt.Sprintf("application error %d", c-64)
	}
	return fmt.Sprintf("unknown stream error 0x%x", uint32(c))
}

// SubscribeError reports a subscription that was refused or ended with an
// error.
type SubscribeError struct {
	Code   StreamErrorCode
	Remote bool
}

func (e *SubscribeError) Error() string {
	return fmt.Sprintf("moqt: subscription %s: %s", side(e.Remote), e.Code)
}

// AnnounceError reports an announcement stream that was refused or ended with
// an error.
type AnnounceError struct {
	Code   StreamErrorCode
	Remote bool
}

func (e *AnnounceError) Error() string {
	return fmt.Sprintf("moqt: announcements %s: %s", side(e.Remote), e.Code)
}

// GroupError reports a group that was reset before it was complete.
type GroupError struct {
	Code   StreamErrorCode
	Remote bool
}

func (e *GroupError) Error() string {
	return fmt.Sprintf("moqt: group %s: %s", side(e.Remote), e.Code)
}

func side(remote bool) string {
	if remote {
		return "reset by peer"
	}
	return "cancelled locally"
}

// streamCode extracts the code of a reset stream.
func streamCode(err error) (StreamErrorCode, bool, bool) {
	var se *quic.StreamError
	if errors.As(err, &se) {
		c := se.ErrorCode
		if c > 0xffffffff {
			c = 0xffffffff
		}
		return StreamErrorCode(c), se.Remote, true
	}
	return 0, false, false
}

// sessionErrorFrom converts a transport error into a *SessionError when the
// connection was closed with an application code.
func sessionErrorFrom(err error) *SessionError {
	var se *SessionError
	if errors.As(err, &se) {
		return se
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) {
		c := ae.ErrorCode
		if c > 0xffffffff {
			c = 0xffffffff
		}
		return &SessionError{Code: SessionErrorCode(c), Reason: ae.ErrorMessage, Remote: ae.Remote}
	}
	return nil
}
