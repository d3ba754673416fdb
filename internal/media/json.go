package media

import "encoding/json"

// mustJSON marshals a value whose types cannot fail to marshal.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("media: " + err.Error())
	}
	return b
}
