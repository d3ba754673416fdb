package ietf_test

import (
	"bytes"
	"fmt"

	"github.com/gomoq/gomoq/moqt/internal/ietf"
)

// A control stream starts with SETUP; later messages follow on it.
func ExampleReader() {
	v := ietf.Draft18
	var stream []byte
	stream = (&ietf.Setup{Options: ietf.KVPs{{Type: ietf.OptionImplementation, Bytes: []byte("gomoq")}}}).Append(stream, v)
	stream = (&ietf.Goaway{TimeoutMs: 5000}).Append(stream, v)

	r := ietf.NewReader(bytes.NewReader(stream), v, 0)
	for {
		typ, payload, err := r.ReadControl()
		if err != nil {
			break
		}
		m, err := ietf.ParseMessage(typ, payload, v)
		if err != nil {
			fmt.Println(err)
			return
		}
		switch m := m.(type) {
		case *ietf.Setup:
			impl, _ := m.Options.Get(ietf.OptionImplementation)
			fmt.Printf("SETUP from %s\n", impl.Bytes)
		case *ietf.Goaway:
			fmt.Printf("GOAWAY in %d ms\n", m.TimeoutMs)
		}
	}
	// Output:
	// SETUP from gomoq
	// GOAWAY in 5000 ms
}
