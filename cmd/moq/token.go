package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gomoq/gomoq/relay"
)

const tokenUsage = `Usage:
  moq token generate --key FILE [--algorithm HS256] [--id KID] [--public FILE] [--base64]
  moq token sign --key FILE [--root PATH] [--publish PATH]... [--subscribe PATH]... [--expires UNIX|DURATION] [--issued UNIX]
  moq token verify --key FILE [--root PATH] < token

Keys and tokens are those of @moq/token and moq-token (moq-relay's): a JWK
file, and JWTs with the claims root, put, get, exp and iat.
`

// runToken is moq token: generate keys, sign and verify tokens.
func runToken(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, tokenUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "generate":
		return tokenGenerate(args[1:])
	case "sign":
		return tokenSign(args[1:], os.Stdout)
	case "verify":
		return tokenVerify(args[1:], os.Stdin, os.Stdout)
	case "-h", "--help", "help":
		fmt.Print(tokenUsage)
		return nil
	}
	return fmt.Errorf("token: unknown command %q\n\n%s", args[0], tokenUsage)
}

func tokenGenerate(args []string) error {
	fs := newFlagSet("token generate", "token generate --key FILE [--algorithm HS256] [--id KID] [--public FILE] [--base64]")
	keyFile := fs.String("key", "", "`file` to write the key to (mode 0600)")
	alg := fs.String("algorithm", "HS256", "`algorithm`: HS256/384/512, ES256/384, RS256/384/512, PS256/384/512 or EdDSA")
	kid := fs.String("id", "", "key `id` (kid) to put in the key and in its tokens (default: random)")
	pubFile := fs.String("public", "", "also write the public half (asymmetric algorithms) to `file`")
	b64 := fs.Bool("base64", false, "write base64url of the JSON instead of the JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "key"); err != nil {
		return err
	}
	if *kid == "" {
		var b [8]byte
		rand.Read(b[:])
		*kid = hex.EncodeToString(b[:])
	}
	var key any
	switch *alg {
	case "HS256", "HS384", "HS512":
		n := map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}[*alg]
		b := make([]byte, n)
		rand.Read(b)
		key = b
	case "ES256", "ES384":
		curve := elliptic.P256()
		if *alg == "ES384" {
			curve = elliptic.P384()
		}
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return err
		}
		key = k
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return err
		}
		key = k
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		key = k
	default:
		return fmt.Errorf("--algorithm %q: want HS256/384/512, ES256/384, RS256/384/512, PS256/384/512 or EdDSA", *alg)
	}
	jwk := jose.JSONWebKey{Key: key, Algorithm: *alg, KeyID: *kid}
	if err := writeJWK(*keyFile, jwk, []string{"sign", "verify"}, *b64); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "moq: generated %s key %s in %s\n", *alg, *kid, *keyFile)
	if *pubFile != "" {
		if _, ok := key.([]byte); ok {
			return errors.New("--public: an HMAC key has no public half")
		}
		if err := writeJWK(*pubFile, jwk.Public(), []string{"verify"}, *b64); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "moq: wrote its public half to %s\n", *pubFile)
	}
	return nil
}

// writeJWK writes k with key_ops (which go-jose does not model).
func writeJWK(file string, k jose.JSONWebKey, ops []string, b64 bool) error {
	b, err := k.MarshalJSON()
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	m["key_ops"] = ops
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if b64 {
		compact, _ := json.Marshal(m)
		out = []byte(base64.RawURLEncoding.EncodeToString(compact))
	}
	return os.WriteFile(file, append(out, '\n'), 0o600)
}

// repeated is a repeatable flag.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func tokenSign(args []string, out io.Writer) error {
	fs := newFlagSet("token sign", "token sign --key FILE [--root PATH] [--publish PATH]... [--subscribe PATH]... [--expires UNIX|DURATION] [--issued UNIX]")
	keyFile := fs.String("key", "", "key `file` (private) to sign with")
	root := fs.String("root", "", "the token's root `path`")
	var put, get repeated
	fs.Var(&put, "publish", "`path` under the root the token may publish (repeatable; \"\" for everything)")
	fs.Var(&get, "subscribe", "`path` under the root the token may subscribe to (repeatable; \"\" for everything)")
	expires := fs.String("expires", "", "expiry: a Unix `time` or a duration from now (e.g. 24h)")
	issued := fs.Int64("issued", 0, "issued-at Unix `time` (default: now)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "key"); err != nil {
		return err
	}
	if len(put) == 0 && len(get) == 0 {
		return errors.New("a token must grant something: give --publish or --subscribe")
	}
	b, err := os.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	js, err := relay.KeyFileJSON(b)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(js); err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	if jwk.IsPublic() && !isSymmetric(jwk) {
		return errors.New("--key: a public key cannot sign")
	}
	claims := map[string]any{"root": *root}
	if len(put) > 0 {
		claims["put"] = []string(put)
	}
	if len(get) > 0 {
		claims["get"] = []string(get)
	}
	iat := time.Now().Unix()
	if *issued != 0 {
		iat = *issued
	}
	claims["iat"] = iat
	if *expires != "" {
		if d, err := time.ParseDuration(*expires); err == nil {
			claims["exp"] = time.Now().Add(d).Unix()
		} else {
			var unix int64
			if _, err := fmt.Sscanf(*expires, "%d", &unix); err != nil {
				return fmt.Errorf("--expires %q: want a Unix time or a duration", *expires)
			}
			claims["exp"] = unix
		}
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if jwk.KeyID != "" {
		opts = opts.WithHeader("kid", jwk.KeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(jwk.Algorithm), Key: jwk.Key}, opts)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, tok)
	return nil
}

func isSymmetric(k jose.JSONWebKey) bool {
	_, ok := k.Key.([]byte)
	return ok
}

func tokenVerify(args []string, in io.Reader, out io.Writer) error {
	fs := newFlagSet("token verify", "token verify --key FILE [--root PATH] < token")
	keyFile := fs.String("key", "", "key `file` (the public half will do)")
	root := fs.String("root", "", "fail unless the token's root is `path`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "key"); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(in, 1<<20))
	if err != nil {
		return err
	}
	c, err := (&relay.JWTAuth{Key: *keyFile}).Verify(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	rootSet := false
	fs.Visit(func(f *flag.Flag) { rootSet = rootSet || f.Name == "root" })
	if rootSet && strings.Trim(c.Root, "/") != strings.Trim(*root, "/") {
		return fmt.Errorf("the token's root is %q, not %q", c.Root, *root)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}
