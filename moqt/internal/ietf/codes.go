package ietf

import "fmt"

// SessionCode is a session termination error code (the application error
// code of the QUIC / WebTransport close).
type SessionCode uint64

// Session termination codes, as registered in draft 20.
const (
	SessionNoError                 SessionCode = 0x0  // NO_ERROR
	SessionInternalError           SessionCode = 0x1  // INTERNAL_ERROR
	SessionUnauthorized            SessionCode = 0x2  // UNAUTHORIZED
	SessionProtocolViolation       SessionCode = 0x3  // PROTOCOL_VIOLATION
	SessionInvalidRequestID        SessionCode = 0x4  // INVALID_REQUEST_ID
	SessionDuplicateTrackAlias     SessionCode = 0x5  // DUPLICATE_TRACK_ALIAS
	SessionKeyValueFormattingError SessionCode = 0x6  // KEY_VALUE_FORMATTING_ERROR
	SessionInvalidRequiredRequest  SessionCode = 0x7  // INVALID_REQUIRED_REQUEST_ID (draft 17 only)
	SessionInvalidPath             SessionCode = 0x8  // INVALID_PATH
	SessionMalformedPath           SessionCode = 0x9  // MALFORMED_PATH
	SessionGoawayTimeout           SessionCode = 0x10 // GOAWAY_TIMEOUT
	SessionControlMessageTimeout   SessionCode = 0x11 // CONTROL_MESSAGE_TIMEOUT
	SessionDataStreamTimeout       SessionCode = 0x12 // DATA_STREAM_TIMEOUT
	SessionAuthTokenCacheOverflow  SessionCode = 0x13 // AUTH_TOKEN_CACHE_OVERFLOW
	SessionDuplicateAuthTokenAlias SessionCode = 0x14 // DUPLICATE_AUTH_TOKEN_ALIAS
	SessionVersionNegotiation      SessionCode = 0x15 // VERSION_NEGOTIATION_FAILED
	SessionMalformedAuthToken      SessionCode = 0x16 // MALFORMED_AUTH_TOKEN
	SessionUnknownAuthTokenAlias   SessionCode = 0x17 // UNKNOWN_AUTH_TOKEN_ALIAS
	SessionExpiredAuthToken        SessionCode = 0x18 // EXPIRED_AUTH_TOKEN
	SessionInvalidAuthority        SessionCode = 0x19 // INVALID_AUTHORITY
	SessionMalformedAuthority      SessionCode = 0x1a // MALFORMED_AUTHORITY
	SessionTooManyRequestUpdates   SessionCode = 0x1b // TOO_MANY_REQUEST_UPDATES (draft 19+)
)

var sessionCodeNames = map[SessionCode]string{
	SessionNoError: "NO_ERROR", SessionInternalError: "INTERNAL_ERROR", SessionUnauthorized: "UNAUTHORIZED",
	SessionProtocolViolation: "PROTOCOL_VIOLATION", SessionInvalidRequestID: "INVALID_REQUEST_ID",
	SessionDuplicateTrackAlias: "DUPLICATE_TRACK_ALIAS", SessionKeyValueFormattingError: "KEY_VALUE_FORMATTING_ERROR",
	SessionInvalidRequiredRequest: "INVALID_REQUIRED_REQUEST_ID", SessionInvalidPath: "INVALID_PATH",
	SessionMalformedPath: "MALFORMED_PATH", SessionGoawayTimeout: "GOAWAY_TIMEOUT",
	SessionControlMessageTimeout: "CONTROL_MESSAGE_TIMEOUT", SessionDataStreamTimeout: "DATA_STREAM_TIMEOUT",
	SessionAuthTokenCacheOverflow: "AUTH_TOKEN_CACHE_OVERFLOW", SessionDuplicateAuthTokenAlias: "DUPLICATE_AUTH_TOKEN_ALIAS",
	SessionVersionNegotiation: "VERSION_NEGOTIATION_FAILED", SessionMalformedAuthToken: "MALFORMED_AUTH_TOKEN",
	SessionUnknownAuthTokenAlias: "UNKNOWN_AUTH_TOKEN_ALIAS", SessionExpiredAuthToken: "EXPIRED_AUTH_TOKEN",
	SessionInvalidAuthority: "INVALID_AUTHORITY", SessionMalformedAuthority: "MALFORMED_AUTHORITY",
	SessionTooManyRequestUpdates: "TOO_MANY_REQUEST_UPDATES",
}

// String returns the code's registered name, or its number in hex.
func (c SessionCode) String() string { return codeName(sessionCodeNames, c) }

// RequestErrorCode is the Error Code of a REQUEST_ERROR.
type RequestErrorCode uint64

// REQUEST_ERROR codes, as registered in draft 20.
const (
	RequestInternalError         RequestErrorCode = 0x0  // INTERNAL_ERROR
	RequestUnauthorized          RequestErrorCode = 0x1  // UNAUTHORIZED
	RequestTimeout               RequestErrorCode = 0x2  // TIMEOUT
	RequestNotSupported          RequestErrorCode = 0x3  // NOT_SUPPORTED
	RequestMalformedAuthToken    RequestErrorCode = 0x4  // MALFORMED_AUTH_TOKEN
	RequestExpiredAuthToken      RequestErrorCode = 0x5  // EXPIRED_AUTH_TOKEN
	RequestGoingAway             RequestErrorCode = 0x6  // GOING_AWAY
	RequestExcessiveLoad         RequestErrorCode = 0x9  // EXCESSIVE_LOAD
	RequestDoesNotExist          RequestErrorCode = 0x10 // DOES_NOT_EXIST
	RequestInvalidRange          RequestErrorCode = 0x11 // INVALID_RANGE
	RequestMalformedTrack        RequestErrorCode = 0x12 // MALFORMED_TRACK
	RequestDuplicateSubscription RequestErrorCode = 0x19 // DUPLICATE_SUBSCRIPTION (drafts 17–18)
	RequestUninterested          RequestErrorCode = 0x20 // UNINTERESTED
	RequestPrefixOverlap         RequestErrorCode = 0x30 // PREFIX_OVERLAP
	RequestNamespaceTooLarge     RequestErrorCode = 0x31 // NAMESPACE_TOO_LARGE
	RequestInvalidJoiningRequest RequestErrorCode = 0x32 // INVALID_JOINING_REQUEST_ID
	RequestUnsupportedExtension  RequestErrorCode = 0x33 // UNSUPPORTED_EXTENSION (draft 18+)
	RequestRedirect              RequestErrorCode = 0x34 // REDIRECT (draft 18+)
	RequestConflictingFilters    RequestErrorCode = 0x35 // CONFLICTING_FILTERS (draft 19+)
	RequestInvalidFilter         RequestErrorCode = 0x36 // INVALID_FILTER (draft 19+)
)

var requestCodeNames = map[RequestErrorCode]string{
	RequestInternalError: "INTERNAL_ERROR", RequestUnauthorized: "UNAUTHORIZED", RequestTimeout: "TIMEOUT",
	RequestNotSupported: "NOT_SUPPORTED", RequestMalformedAuthToken: "MALFORMED_AUTH_TOKEN",
	RequestExpiredAuthToken: "EXPIRED_AUTH_TOKEN", RequestGoingAway: "GOING_AWAY", RequestExcessiveLoad: "EXCESSIVE_LOAD",
	RequestDoesNotExist: "DOES_NOT_EXIST", RequestInvalidRange: "INVALID_RANGE", RequestMalformedTrack: "MALFORMED_TRACK",
	RequestDuplicateSubscription: "DUPLICATE_SUBSCRIPTION", RequestUninterested: "UNINTERESTED",
	RequestPrefixOverlap: "PREFIX_OVERLAP", RequestNamespaceTooLarge: "NAMESPACE_TOO_LARGE",
	RequestInvalidJoiningRequest: "INVALID_JOINING_REQUEST_ID", RequestUnsupportedExtension: "UNSUPPORTED_EXTENSION",
	RequestRedirect: "REDIRECT", RequestConflictingFilters: "CONFLICTING_FILTERS", RequestInvalidFilter: "INVALID_FILTER",
}

// String returns the code's registered name, or its number in hex.
func (c RequestErrorCode) String() string { return codeName(requestCodeNames, c) }

// PublishDoneCode is the Status Code of a PUBLISH_DONE. The constants are
// the draft 18+ values; draft 17 swaps EXPIRED (0x5) and TOO_FAR_BEHIND
// (0x6), which [PublishDoneCode.Wire] and [PublishDoneCodeOf] translate.
type PublishDoneCode uint64

// PUBLISH_DONE status codes (draft 18+ numbering).
const (
	DoneInternalError     PublishDoneCode = 0x0  // INTERNAL_ERROR
	DoneUnauthorized      PublishDoneCode = 0x1  // UNAUTHORIZED
	DoneTrackEnded        PublishDoneCode = 0x2  // TRACK_ENDED
	DoneSubscriptionEnded PublishDoneCode = 0x3  // SUBSCRIPTION_ENDED
	DoneGoingAway         PublishDoneCode = 0x4  // GOING_AWAY
	DoneTooFarBehind      PublishDoneCode = 0x5  // TOO_FAR_BEHIND (0x6 on draft 17)
	DoneExpired           PublishDoneCode = 0x6  // EXPIRED (0x5 on draft 17)
	DoneUpdateFailed      PublishDoneCode = 0x8  // UPDATE_FAILED
	DoneExcessiveLoad     PublishDoneCode = 0x9  // EXCESSIVE_LOAD
	DoneMalformedTrack    PublishDoneCode = 0x12 // MALFORMED_TRACK
)

var doneCodeNames = map[PublishDoneCode]string{
	DoneInternalError: "INTERNAL_ERROR", DoneUnauthorized: "UNAUTHORIZED", DoneTrackEnded: "TRACK_ENDED",
	DoneSubscriptionEnded: "SUBSCRIPTION_ENDED", DoneGoingAway: "GOING_AWAY", DoneTooFarBehind: "TOO_FAR_BEHIND",
	DoneExpired: "EXPIRED", DoneUpdateFailed: "UPDATE_FAILED", DoneExcessiveLoad: "EXCESSIVE_LOAD",
	DoneMalformedTrack: "MALFORMED_TRACK",
}

// String returns the code's registered name, or its number in hex.
func (c PublishDoneCode) String() string { return codeName(doneCodeNames, c) }

// Wire returns the number that carries c in version v.
func (c PublishDoneCode) Wire(v Version) uint64 {
	if v == Draft17 {
		switch c {
		case DoneTooFarBehind:
			return 0x6
		case DoneExpired:
			return 0x5
		}
	}
	return uint64(c)
}

// PublishDoneCodeOf maps a Status Code received in version v to its code.
func PublishDoneCodeOf(x uint64, v Version) PublishDoneCode {
	if v == Draft17 && (x == 0x5 || x == 0x6) {
		return PublishDoneCode(0xb - x)
	}
	return PublishDoneCode(x)
}

// StreamResetCode is the error code of a data stream reset. The constants
// are the draft 18+ values; draft 17 numbers UNKNOWN_OBJECT_STATUS 0x4 and
// has no GOING_AWAY or EXPIRED_AUTH_TOKEN ([StreamResetCode.Wire] sends
// those as INTERNAL_ERROR there).
type StreamResetCode uint64

// Stream reset codes (draft 18+ numbering).
const (
	ResetInternalError       StreamResetCode = 0x0  // INTERNAL_ERROR
	ResetCancelled           StreamResetCode = 0x1  // CANCELLED
	ResetDeliveryTimeout     StreamResetCode = 0x2  // DELIVERY_TIMEOUT
	ResetSessionClosed       StreamResetCode = 0x3  // SESSION_CLOSED
	ResetGoingAway           StreamResetCode = 0x4  // GOING_AWAY (draft 18+)
	ResetTooFarBehind        StreamResetCode = 0x5  // TOO_FAR_BEHIND
	ResetUnknownObjectStatus StreamResetCode = 0x6  // UNKNOWN_OBJECT_STATUS (0x4 on draft 17)
	ResetExpiredAuthToken    StreamResetCode = 0x7  // EXPIRED_AUTH_TOKEN (draft 18+)
	ResetExcessiveLoad       StreamResetCode = 0x9  // EXCESSIVE_LOAD
	ResetMalformedTrack      StreamResetCode = 0x12 // MALFORMED_TRACK
)

var resetCodeNames = map[StreamResetCode]string{
	ResetInternalError: "INTERNAL_ERROR", ResetCancelled: "CANCELLED", ResetDeliveryTimeout: "DELIVERY_TIMEOUT",
	ResetSessionClosed: "SESSION_CLOSED", ResetGoingAway: "GOING_AWAY", ResetTooFarBehind: "TOO_FAR_BEHIND",
	ResetUnknownObjectStatus: "UNKNOWN_OBJECT_STATUS", ResetExpiredAuthToken: "EXPIRED_AUTH_TOKEN",
	ResetExcessiveLoad: "EXCESSIVE_LOAD", ResetMalformedTrack: "MALFORMED_TRACK",
}

// String returns the code's registered name, or its number in hex.
func (c StreamResetCode) String() string { return codeName(resetCodeNames, c) }

// Wire returns the number that carries c in version v.
func (c StreamResetCode) Wire(v Version) uint64 {
	if v == Draft17 {
		switch c {
		case ResetUnknownObjectStatus:
			return 0x4
		case ResetGoingAway, ResetExpiredAuthToken:
			return uint64(ResetInternalError)
		}
	}
	return uint64(c)
}

// StreamResetCodeOf maps a reset code received in version v to its code.
func StreamResetCodeOf(x uint64, v Version) StreamResetCode {
	if v == Draft17 && x == 0x4 {
		return ResetUnknownObjectStatus
	}
	return StreamResetCode(x)
}

func codeName[C ~uint64](names map[C]string, c C) string {
	if s, ok := names[c]; ok {
		return s
	}
	return fmt.Sprintf("0x%x", uint64(c))
}
