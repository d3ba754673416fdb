package moqt

import "strings"

// BroadcastPath names a broadcast. The API writes paths with a leading "/"
// ("/room/alice"); on the wire moq-lite paths carry no leading or trailing
// slash. Paths are compared segment by segment: "/a" is a prefix of "/a/b"
// but not of "/ab".
type BroadcastPath string

// String returns the path in canonical form: a leading "/", no trailing "/",
// no empty segments.
func (p BroadcastPath) String() string { return "/" + cleanPath(string(p)) }

// TrackName names a track within a broadcast.
type TrackName string

// maxPathParts is the most segments a path may have (moq-lite's limit).
const maxPathParts = 32

// cleanPath returns the wire form of a path: no leading or trailing "/", and
// "//" collapsed. It allocates only when the input is not already clean.
func cleanPath(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	for _, part := range strings.Split(s, "/") {
		if part == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(part)
	}
	return b.String()
}

func isClean(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == '/' || s[len(s)-1] == '/' {
		return false
	}
	return !strings.Contains(s, "//")
}

// pathParts counts the segments of a clean path.
func pathParts(s string) int {
	if s == "" {
		return 0
	}
	return strings.Count(s, "/") + 1
}

// joinPath joins two clean paths.
func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "/" + b
}

// stripPrefix reports whether the clean path p lies under the clean prefix,
// on segment boundaries, and returns the remaining suffix.
func stripPrefix(p, prefix string) (string, bool) {
	if prefix == "" {
		return p, true
	}
	if !strings.HasPrefix(p, prefix) {
		return "", false
	}
	if len(p) == len(prefix) {
		return "", true
	}
	if p[len(prefix)] != '/' {
		return "", false
	}
	return p[len(prefix)+1:], true
}
