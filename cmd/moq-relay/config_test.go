package main

import (
	"bytes"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/gomoq/gomoq/internal/certs"
)

// env is a fake environment for loadConfig.
type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

// load runs loadConfig on args, with a config file of the given contents
// (none if "") appended as the positional argument.
func load(t *testing.T, file string, e env, args ...string) (*Config, *loaded, error) {
	t.Helper()
	if file != "" {
		p := filepath.Join(t.TempDir(), "relay.toml")
		if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	var cfg Config
	ld, err := loadConfig(&cfg, args, e.lookup, io.Discard)
	return &cfg, ld, err
}

func mustLoad(t *testing.T, file string, e env, args ...string) (*Config, *loaded) {
	t.Helper()
	cfg, ld, err := load(t, file, e, args...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, ld
}

// TestDefaults: with nothing set, the relay is configured as `go run
// ./cmd/moq-relay` always was.
func TestDefaults(t *testing.T) {
	cfg, ld := mustLoad(t, "", nil)
	var want Config
	want.Log.Level = logLevel(slog.LevelInfo)
	want.Log.Format = "text"
	want.Server.Listen = "[::]:4443"
	want.Server.ShutdownTimeout = duration(10 * time.Second)
	want.Server.TLS.Generate = list{"localhost", "127.0.0.1", "::1"}
	want.Server.TLS.ACMEDirectory = certs.DefaultDirectoryURL
	want.Cluster.Linger = duration(5 * time.Second)
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *cfg, want)
	}
	if cfg.httpListen() != "[::]:4443" || len(cfg.Auth.Public) != 0 {
		t.Errorf("HTTP listens on %q, auth.public %q", cfg.httpListen(), cfg.Auth.Public)
	}
	if ld.file != "" || ld.printConfig {
		t.Errorf("file %q, print-config %v", ld.file, ld.printConfig)
	}
	for k, v := range ld.from {
		if v != "default" {
			t.Errorf("%s comes from %s", k, v)
		}
	}
}

// TestSettingsDeclared: every setting has a flag, help, a unique flag and
// variable, and its variable is MOQ_ and its path.
func TestSettingsDeclared(t *testing.T) {
	flags, envs := map[string]bool{"config": true, "print-config": true}, map[string]bool{}
	for _, s := range settingsOf(reflect.TypeFor[Config]()) {
		if flags[s.flag] || envs[s.env] {
			t.Errorf("%s: flag --%s or variable %s declared twice", s.key, s.flag, s.env)
		}
		flags[s.flag], envs[s.env] = true, true
		if want := "MOQ_" + strings.ToUpper(strings.ReplaceAll(s.key, ".", "_")); s.env != want {
			t.Errorf("%s: variable %s, want %s", s.key, s.env, want)
		}
	}
	// The names that exist since the flags-only relay, and moq-relay's keys.
	for flag, key := range map[string]string{
		"listen": "server.listen", "tls-cert": "server.tls.cert", "tls-key": "server.tls.key",
		"log-level": "log.level", "shutdown-timeout": "server.shutdown_timeout",
		"auth-key": "auth.key", "auth-key-dir": "auth.key_dir", "auth-public": "auth.public",
		"max-sessions": "limits.max_sessions", "max-latency": "limits.max_latency",
		"tls-generate": "server.tls.generate", "http-listen": "web.http.listen", "internal-listen": "internal.listen",
		"log-format": "log.format", "tls-acme": "server.tls.acme",
		"tls-acme-cache": "server.tls.acme_cache", "tls-acme-email": "server.tls.acme_email",
		"tls-acme-directory": "server.tls.acme_directory", "tls-acme-http-listen": "server.tls.acme_http_listen",
	} {
		i := slices.IndexFunc(settingsOf(reflect.TypeFor[Config]()), func(s setting) bool { return s.flag == flag })
		if i < 0 || settingsOf(reflect.TypeFor[Config]())[i].key != key {
			t.Errorf("--%s is not %s", flag, key)
		}
	}
}

// tomlLeaves returns the keys of a TOML document's values (not tables).
func tomlLeaves(t *testing.T, data []byte) []string {
	t.Helper()
	var m map[string]any
	if _, err := toml.Decode(string(data), &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
			} else {
				keys = append(keys, prefix+k)
			}
		}
	}
	walk("", m)
	slices.Sort(keys)
	return keys
}

func declaredKeys() []string {
	var keys []string
	for _, s := range settingsOf(reflect.TypeFor[Config]()) {
		keys = append(keys, s.key)
	}
	slices.Sort(keys)
	return keys
}

// TestExampleConfig: relay.example.toml parses, sets exactly the declared
// keys, and sets each to its default (so that its comments' defaults are
// the real ones).
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("relay.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tomlLeaves(t, data), declaredKeys(); !slices.Equal(got, want) {
		t.Errorf("relay.example.toml keys:\n got %q\nwant %q", got, want)
	}
	cfg, ld := mustLoad(t, string(data), nil)
	def, _ := mustLoad(t, "", nil)
	if !reflect.DeepEqual(cfg, def) {
		t.Errorf("relay.example.toml is not the defaults:\n got %+v\nwant %+v", *cfg, *def)
	}
	for k, v := range ld.from {
		if !strings.Contains(v, "relay.toml:") {
			t.Errorf("%s comes from %s, want the example's line", k, v)
		}
	}
}

// TestPrecedence: a flag wins over the variable, which wins over the
// file, which wins over the default.
func TestPrecedence(t *testing.T) {
	file := `
[log]
level = "warn"
format = "json"

[server]
listen = "file:1"

[server.tls]
generate = ["file.example"]

[limits]
max_sessions = 5
max_streams = 7
idle_timeout = "1m"
`
	e := env{
		"MOQ_SERVER_LISTEN":        "env:2",
		"MOQ_LIMITS_MAX_SESSIONS":  "6",
		"MOQ_LOG_FORMAT":           "text",
		"MOQ_LIMITS_SETUP_TIMEOUT": "3s",
		"MOQ_SERVER_TLS_GENERATE":  "env.example, 10.0.0.1",
		"MOQ_AUTH_KEY_DIR":         "", // empty: unset
	}
	cfg, ld := mustLoad(t, file, e, "--listen", "flag:3", "--log-format", "json")
	checks := []struct {
		key  string
		got  any
		want any
		from string
	}{
		{"server.listen", cfg.Server.Listen, "flag:3", "--listen"},
		{"log.format", cfg.Log.Format, logFormat("json"), "--log-format"},
		{"limits.max_sessions", cfg.Limits.MaxSessions, 6, "MOQ_LIMITS_MAX_SESSIONS"},
		{"limits.setup_timeout", cfg.Limits.SetupTimeout, duration(3 * time.Second), "MOQ_LIMITS_SETUP_TIMEOUT"},
		{"server.tls.generate", cfg.Server.TLS.Generate, list{"env.example", "10.0.0.1"}, "MOQ_SERVER_TLS_GENERATE"},
		{"log.level", cfg.Log.Level, logLevel(slog.LevelWarn), "relay.toml:3"},
		{"limits.max_streams", cfg.Limits.MaxStreams, int64(7), "relay.toml:14"},
		{"limits.idle_timeout", cfg.Limits.IdleTimeout, duration(time.Minute), "relay.toml:15"},
		{"server.shutdown_timeout", cfg.Server.ShutdownTimeout, duration(10 * time.Second), "default"},
		{"auth.key_dir", cfg.Auth.KeyDir, "", "default"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.key, c.got, c.want)
		}
		if from := ld.from[c.key]; !strings.HasSuffix(from, c.from) {
			t.Errorf("%s comes from %q, want %q", c.key, from, c.from)
		}
	}
}

// TestLists: lists from TOML arrays or one string (moq-relay's
// auth.public), comma-separated variables, repeated and comma-separated
// flags; "" is a prefix (everything), not nothing.
func TestLists(t *testing.T) {
	cfg, _ := mustLoad(t, "[auth]\npublic = \"anon\"\n", nil)
	if !slices.Equal(cfg.Auth.Public, []string{"anon"}) {
		t.Errorf("public = \"anon\": %q", cfg.Auth.Public)
	}
	cfg, _ = mustLoad(t, "[auth]\npublic = [\"a\", \"b/c\"]\n", env{"MOQ_AUTH_PUBLIC": "x,y"})
	if !slices.Equal(cfg.Auth.Public, []string{"x", "y"}) {
		t.Errorf("MOQ_AUTH_PUBLIC=x,y over the file: %q", cfg.Auth.Public)
	}
	cfg, _ = mustLoad(t, "", env{"MOQ_AUTH_PUBLIC": "x"}, "--auth-public", "", "--auth-public", "p,q")
	if !slices.Equal(cfg.Auth.Public, []string{"", "p", "q"}) {
		t.Errorf(`--auth-public "" --auth-public p,q: %q`, cfg.Auth.Public)
	}
	cfg, _ = mustLoad(t, "[server.tls]\ngenerate = []\ncert = \"c.pem\"\nkey = \"k.pem\"\n", nil)
	if len(cfg.Server.TLS.Generate) != 0 || cfg.Server.TLS.Cert != "c.pem" {
		t.Errorf("generate = []: %q, cert %q", cfg.Server.TLS.Generate, cfg.Server.TLS.Cert)
	}
}

// TestConfigErrors: unknown keys, bad values and bad combinations are
// errors that say where: the file's line and the key, the variable, or
// the flag.
func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		file string
		env  env
		args []string
		want []string // substrings of the error
	}{
		{name: "unknown key", file: "[server]\nlisten = \"[::]:1\"\n\nlisten_udp = 1\n", want: []string{"relay.toml:4:", "unknown key server.listen_udp"}},
		{name: "unknown key, dotted", file: "[server]\ntls.crt = \"x\"\n", want: []string{"relay.toml:2:", "unknown key server.tls.crt"}},
		{name: "unknown key, hint", file: "\n[limits]\nmax-sessions = 3\n", want: []string{"relay.toml:3:", "unknown key limits.max-sessions", "did you mean limits.max_sessions?"}},
		{name: "unknown table", file: "[log]\nlevel = \"info\"\n[gossip]\nroot = \"x\"\nnode = \"y\"\n", want: []string{"relay.toml:3:", "unknown table [gossip]"}},
		{name: "cluster id too large", args: []string{"--cluster-id", "9007199254740992"}, want: []string{"cluster.id (--cluster-id):", "2^53-1"}},
		{name: "cluster id negative", file: "[cluster]\nid = -1\n", want: []string{"cluster.id (", "relay.toml:2):"}},
		{name: "cluster connect scheme", env: env{"MOQ_CLUSTER_CONNECT": "moqt://a.example:4443/,ftp://b.example/"}, want: []string{"cluster.connect (MOQ_CLUSTER_CONNECT):", "ftp://b.example/", "want an https://"}},
		{name: "cluster connect host", args: []string{"--cluster-connect", "https:///x"}, want: []string{"cluster.connect (--cluster-connect):", "no host"}},
		{name: "cluster mesh without node", args: []string{"--cluster-mesh"}, want: []string{"cluster.mesh (--cluster-mesh)", "needs cluster.node"}},
		{name: "cluster node scheme", env: env{"MOQ_CLUSTER_NODE": "ftp://a.example/", "MOQ_CLUSTER_MESH": "true"}, want: []string{"cluster.node (MOQ_CLUSTER_NODE):", "want an https://"}},
		{name: "two unknown keys", file: "[log]\nlevle = \"x\"\n[web.https]\nlisten = \"x\"\n", want: []string{"relay.toml:2: unknown key log.levle", "relay.toml:3: unknown table [web.https]"}},
		{name: "string for integer", file: "[limits]\ncache_groups = 3\nmax_sessions = \"many\"\n", want: []string{"line 3", "limits.max_sessions", "string", "integer"}},
		{name: "bad duration", file: "[limits]\n\nsetup_timeout = \"10 parsecs\"\n", want: []string{"relay.toml:3:", "limits.setup_timeout", `"10 parsecs"`}},
		{name: "integer duration", file: "[server]\nshutdown_timeout = 10\n", want: []string{"relay.toml:2:", "server.shutdown_timeout", "duration string"}},
		{name: "bad log format", file: "[log]\nformat = \"xml\"\n", want: []string{"relay.toml:2:", "log.format", `"xml"`}},
		{name: "bad log level", file: "[log]\nlevel = \"loud\"\n", want: []string{"relay.toml:2:", "log.level", `"loud"`}},
		{name: "number in a list", file: "[auth]\npublic = [\"a\", 2]\n", want: []string{"relay.toml:2:", "auth.public", "list of strings"}},
		{name: "syntax", file: "[server]\nlisten = [::]:4443\n", want: []string{"relay.toml:2:"}},
		{name: "bad variable", env: env{"MOQ_LIMITS_MAX_SESSIONS": "many"}, want: []string{"MOQ_LIMITS_MAX_SESSIONS", `"many"`}},
		{name: "bad duration variable", env: env{"MOQ_LIMITS_MAX_LATENCY": "2"}, want: []string{"MOQ_LIMITS_MAX_LATENCY", `"2"`}},
		{name: "bad format variable", env: env{"MOQ_LOG_FORMAT": "xml"}, want: []string{"MOQ_LOG_FORMAT", `"xml"`}},
		{name: "bad flag", args: []string{"--max-sessions", "many"}, want: []string{"max-sessions", `"many"`}},
		{name: "unknown flag", args: []string{"--max-session", "1"}, want: []string{"max-session"}},
		{name: "cert without key", file: "[server.tls]\ncert = \"c.pem\"\n", want: []string{"server.tls.cert (", "relay.toml:2) and server.tls.key (default) go together"}},
		{name: "key without cert", env: env{"MOQ_SERVER_TLS_KEY": "k.pem"}, want: []string{"server.tls.key (MOQ_SERVER_TLS_KEY)"}},
		{name: "key and key dir", args: []string{"--auth-key", "k.jwk", "--auth-key-dir", "keys"}, want: []string{"auth.key (--auth-key) and auth.key_dir (--auth-key-dir) exclude each other"}},
		{name: "no certificate", file: "[server.tls]\ngenerate = []\n", want: []string{"no certificate", "server.tls.generate (", "relay.toml:2)"}},
		{name: "empty host name", args: []string{"--tls-generate", "a,,b"}, want: []string{"server.tls.generate (--tls-generate): an empty host name"}},
		{name: "acme and cert", file: "[server.tls]\nacme = [\"relay.example.com\"]\ncert = \"c.pem\"\nkey = \"k.pem\"\n", want: []string{"server.tls.acme (", "relay.toml:2) and server.tls.cert (", "relay.toml:3) exclude each other"}},
		{name: "acme and key", env: env{"MOQ_SERVER_TLS_ACME": "relay.example.com", "MOQ_SERVER_TLS_KEY": "k.pem"}, want: []string{"server.tls.acme (MOQ_SERVER_TLS_ACME) and server.tls.key (MOQ_SERVER_TLS_KEY) exclude each other"}},
		{name: "acme and generate", args: []string{"--tls-acme", "relay.example.com", "--tls-generate", "relay.example.com"}, want: []string{"server.tls.acme (--tls-acme) and server.tls.generate (--tls-generate) exclude each other"}},
		{name: "acme cache without acme", args: []string{"--tls-acme-cache", "/var/lib/acme"}, want: []string{"server.tls.acme_cache (--tls-acme-cache) needs server.tls.acme"}},
		{name: "acme email without acme", file: "[server.tls]\nacme_email = \"ops@example.com\"\n", want: []string{"server.tls.acme_email (", "relay.toml:2) needs server.tls.acme"}},
		{name: "acme directory without acme", env: env{"MOQ_SERVER_TLS_ACME_DIRECTORY": "https://acme-staging-v02.api.letsencrypt.org/directory"}, want: []string{"server.tls.acme_directory (MOQ_SERVER_TLS_ACME_DIRECTORY) needs server.tls.acme"}},
		{name: "acme http listen without acme", args: []string{"--tls-acme-http-listen", ":80"}, want: []string{"server.tls.acme_http_listen (--tls-acme-http-listen) needs server.tls.acme"}},
		{name: "acme IP address", args: []string{"--tls-acme", "relay.example.com,192.0.2.1"}, want: []string{"server.tls.acme (--tls-acme):", `"192.0.2.1"`, "IP addresses are not supported"}},
		{name: "acme wildcard", file: "[server.tls]\nacme = [\"*.example.com\"]\n", want: []string{"server.tls.acme (", "relay.toml:2):", "wildcard"}},
		{name: "acme not qualified", args: []string{"--tls-acme", "relay"}, want: []string{"server.tls.acme (--tls-acme):", "not a fully qualified DNS name"}},
		{name: "acme directory not https", args: []string{"--tls-acme", "relay.example.com", "--tls-acme-directory", "http://ca.example/dir"}, want: []string{"server.tls.acme_directory (--tls-acme-directory):", "not an https URL"}},
		{name: "acme http listen without port", env: env{"MOQ_SERVER_TLS_ACME": "relay.example.com", "MOQ_SERVER_TLS_ACME_HTTP_LISTEN": "relay.example.com"}, want: []string{"server.tls.acme_http_listen (MOQ_SERVER_TLS_ACME_HTTP_LISTEN):", "missing port"}},
		{name: "two files", args: []string{"a.toml", "b.toml"}, want: []string{"one config file"}},
		{name: "file twice", file: "\n", args: []string{"--config", "other.toml"}, want: []string{"config file given twice"}},
		{name: "missing file", args: []string{"--config", "/nonexistent/relay.toml"}, want: []string{"/nonexistent/relay.toml"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := load(t, c.file, c.env, c.args...)
			if err == nil {
				t.Fatalf("no error, want one with %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestFlagsAroundFile: flags may come before and after the config file.
func TestFlagsAroundFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "relay.toml")
	os.WriteFile(p, []byte("[server]\nlisten = \"file:1\"\n[limits]\nmax_sessions = 9\n"), 0o600)
	var cfg Config
	ld, err := loadConfig(&cfg, []string{"--log-level", "debug", p, "--listen", "flag:2"}, env(nil).lookup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if ld.file != p || cfg.Server.Listen != "flag:2" || cfg.Limits.MaxSessions != 9 || cfg.Log.Level != logLevel(slog.LevelDebug) {
		t.Errorf("file %q listen %q max_sessions %d level %v", ld.file, cfg.Server.Listen, cfg.Limits.MaxSessions, cfg.Log.Level)
	}
	if _, err := loadConfig(&cfg, []string{"--help"}, env(nil).lookup, io.Discard); err != errHelp {
		t.Errorf("--help: %v, want errHelp", err)
	}
	var help bytes.Buffer
	loadConfig(&cfg, []string{"--help"}, env(nil).lookup, &help)
	for _, want := range []string{"--listen address", "[server] listen, $MOQ_SERVER_LISTEN; default [::]:4443", "--print-config", "$MOQ_LIMITS_MAX_SESSIONS"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// TestPrintConfig: --print-config prints every key, and what it prints
// loads back to the same configuration.
func TestPrintConfig(t *testing.T) {
	file := `
[log]
level = "trace"
[server]
listen = "127.0.0.1:4443"
[server.tls]
cert = "/etc/relay/ce\"rt.pem"
key = 'C:\keys\relay.key'
[web.http]
listen = ":8080"
[auth]
public = ["", "anon", "a b"]
[limits]
max_latency = "1.5s"
cache_bytes = 1073741824
`
	cfg, ld := mustLoad(t, file, env{"MOQ_INTERNAL_LISTEN": "127.0.0.1:9101", "MOQ_LIMITS_MAX_STREAMS": "99"}, "--log-format", "json", "--print-config")
	if !ld.printConfig {
		t.Fatal("--print-config not seen")
	}
	var out bytes.Buffer
	if err := printConfig(&out, cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := tomlLeaves(t, out.Bytes()), declaredKeys(); !slices.Equal(got, want) {
		t.Errorf("--print-config keys:\n got %q\nwant %q\n%s", got, want, out.String())
	}
	back, _ := mustLoad(t, out.String(), nil)
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("--print-config output loads as\n %+v\nwant\n %+v\noutput:\n%s", *back, *cfg, out.String())
	}
	// And the defaults round-trip too (empty lists, zero limits).
	def, _ := mustLoad(t, "", nil)
	out.Reset()
	printConfig(&out, def)
	if back, _ := mustLoad(t, out.String(), nil); !reflect.DeepEqual(back, def) {
		t.Errorf("the defaults printed load as\n %+v\nwant\n %+v", *back, *def)
	}
}

// secretConfig is a config struct with a secret setting, for the
// redaction test (Config has none yet).
type secretConfig struct {
	Auth struct {
		Token string `toml:"token" flag:"auth-token" help:"a secret" secret:"true"`
		Limit int    `toml:"limit" flag:"auth-limit" default:"3" help:"not a secret" secret:"true"`
		Name  string `toml:"name" flag:"auth-name" help:"not a secret"`
	} `toml:"auth"`
}

// TestSecretRedacted: --print-config prints a secret setting as
// "<redacted>", and an error about its value does not show it.
func TestSecretRedacted(t *testing.T) {
	var cfg secretConfig
	if _, err := loadConfig(&cfg, []string{"--auth-token", "hunter2", "--auth-name", "visible"}, env(nil).lookup, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printConfig(&out, &cfg)
	if strings.Contains(out.String(), "hunter2") || !strings.Contains(out.String(), `token = "<redacted>"`) || !strings.Contains(out.String(), `name = "visible"`) {
		t.Errorf("--print-config:\n%s", out.String())
	}
	_, err := loadConfig(&cfg, nil, env{"MOQ_AUTH_LIMIT": "hunter2"}.lookup, io.Discard)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "MOQ_AUTH_LIMIT") {
		t.Errorf("bad secret variable: %v", err)
	}
	// Sources are reported for every key.
	if got := slices.Sorted(maps.Keys(mustFrom(t, &cfg))); !slices.Equal(got, []string{"auth.limit", "auth.name", "auth.token"}) {
		t.Errorf("from keys %q", got)
	}
}

func mustFrom(t *testing.T, cfg any) map[string]string {
	t.Helper()
	ld, err := loadConfig(cfg, nil, env(nil).lookup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return ld.from
}

// TestACMEConfig: the server.tls.acme keys come from the file, the
// variables and the flags like the others; with acme set, the example
// file's other defaults (generate among them) are no conflict.
func TestACMEConfig(t *testing.T) {
	file := `
[server.tls]
acme = ["relay.example.com", "relay2.example.com"]
acme_cache = "/var/lib/moq-relay/acme"
acme_email = "file@example.com"
acme_directory = "https://acme-staging-v02.api.letsencrypt.org/directory"
`
	e := env{"MOQ_SERVER_TLS_ACME_EMAIL": "env@example.com", "MOQ_SERVER_TLS_ACME_HTTP_LISTEN": "[::]:8080"}
	cfg, ld := mustLoad(t, file, e, "--tls-acme-http-listen", "[::]:80")
	tls := cfg.Server.TLS
	checks := []struct {
		key  string
		got  any
		want any
		from string
	}{
		{"server.tls.acme", tls.ACME, list{"relay.example.com", "relay2.example.com"}, "relay.toml:3"},
		{"server.tls.acme_cache", tls.ACMECache, "/var/lib/moq-relay/acme", "relay.toml:4"},
		{"server.tls.acme_email", tls.ACMEEmail, "env@example.com", "MOQ_SERVER_TLS_ACME_EMAIL"},
		{"server.tls.acme_directory", tls.ACMEDirectory, "https://acme-staging-v02.api.letsencrypt.org/directory", "relay.toml:6"},
		{"server.tls.acme_http_listen", tls.ACMEHTTPListen, "[::]:80", "--tls-acme-http-listen"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.key, c.got, c.want)
		}
		if from := ld.from[c.key]; !strings.HasSuffix(from, c.from) {
			t.Errorf("%s comes from %q, want %q", c.key, from, c.from)
		}
	}
	cfg, _ = mustLoad(t, "", env{"MOQ_SERVER_TLS_ACME": "a.example.com, b.example.com"})
	if !slices.Equal(cfg.Server.TLS.ACME, []string{"a.example.com", "b.example.com"}) || cfg.Server.TLS.ACMEDirectory != certs.DefaultDirectoryURL {
		t.Errorf("MOQ_SERVER_TLS_ACME: acme %q, directory %q", cfg.Server.TLS.ACME, cfg.Server.TLS.ACMEDirectory)
	}

	// The example file with acme filled in loads: its generate and
	// acme_directory are the defaults.
	data, err := os.ReadFile("relay.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	example := strings.Replace(string(data), "\nacme = []\n", "\nacme = [\"relay.example.com\"]\n", 1)
	if example == string(data) {
		t.Fatal("relay.example.toml has no acme = [] line")
	}
	cfg, _ = mustLoad(t, example, nil)
	if !slices.Equal(cfg.Server.TLS.ACME, []string{"relay.example.com"}) {
		t.Errorf("example with acme: %q", cfg.Server.TLS.ACME)
	}
	// And so does what --print-config prints of it.
	var out bytes.Buffer
	printConfig(&out, cfg)
	if back, _ := mustLoad(t, out.String(), nil); !reflect.DeepEqual(back, cfg) {
		t.Errorf("--print-config with acme loads as\n %+v\nwant\n %+v", *back, *cfg)
	}
}

// TestClusterSettings: cluster.connect is a repeatable flag and a
// comma-separated variable; cluster.token's JWT is added to the URLs that
// carry none, and the others keep theirs.
func TestClusterSettings(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "cluster.jwt")
	if err := os.WriteFile(tok, []byte("tok.en.x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg Config
	ld, err := loadConfig(&cfg, []string{"--cluster-connect", "moqt://a.example:4443/", "--cluster-connect", "https://b.example/?jwt=own", "--cluster-token", tok}, env{"MOQ_CLUSTER_ID": "42"}.lookup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.ID != 42 || ld.from["cluster.id"] != "MOQ_CLUSTER_ID" {
		t.Fatalf("cluster.id = %d from %s", cfg.Cluster.ID, ld.from["cluster.id"])
	}
	got, err := peerURLs(&cfg, ld.from)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"moqt://a.example:4443/?jwt=tok.en.x", "https://b.example/?jwt=own"}
	if !slices.Equal(got, want) {
		t.Fatalf("peer URLs %q, want %q", got, want)
	}
	cfg = Config{}
	if _, err := loadConfig(&cfg, nil, env{"MOQ_CLUSTER_CONNECT": "moqt://a.example/, http://b.example:4443/"}.lookup, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := (list{"moqt://a.example/", "http://b.example:4443/"}); !slices.Equal(cfg.Cluster.Connect, want) {
		t.Fatalf("MOQ_CLUSTER_CONNECT: %q, want %q", cfg.Cluster.Connect, want)
	}
}
