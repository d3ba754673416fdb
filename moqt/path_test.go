package moqt

import "testing"

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "/": "", "a": "a", "/a/": "a", "//a//b/": "a/b", "a/b": "a/b", "///": "",
	} {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := BroadcastPath("room//alice/").String(); got != "/room/alice" {
		t.Errorf("String() = %q", got)
	}
}

func TestStripPrefix(t *testing.T) {
	tests := []struct {
		p, prefix, suffix string
		ok                bool
	}{
		{"a/b", "", "a/b", true},
		{"a/b", "a", "b", true},
		{"a/b", "a/b", "", true},
		{"ab", "a", "", false},
		{"a", "a/b", "", false},
		{"abc/d", "ab", "", false},
	}
	for _, tt := range tests {
		s, ok := stripPrefix(tt.p, tt.prefix)
		if s != tt.suffix || ok != tt.ok {
			t.Errorf("stripPrefix(%q, %q) = %q, %v; want %q, %v", tt.p, tt.prefix, s, ok, tt.suffix, tt.ok)
		}
	}
	if joinPath("a", "b/c") != "a/b/c" || joinPath("", "x") != "x" || joinPath("x", "") != "x" {
		t.Error("joinPath")
	}
	if pathParts("") != 0 || pathParts("a/b/c") != 3 {
		t.Error("pathParts")
	}
}
