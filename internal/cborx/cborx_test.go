package cborx

import (
	"testing"

	"github.com/fxamacker/cbor/v2"
)

func TestStrict(t *testing.T) {
	type v struct {
		A []int `cbor:"a"`
	}
	arr := func(n int) []byte { // {"a": [0 × n]}
		b := []byte{0xa1, 0x61, 'a', 0x99, byte(n >> 8), byte(n)}
		return append(b, make([]byte, n)...)
	}
	tests := []struct {
		name string
		p    Profile
		in   []byte
		ok   bool
	}{
		{"plain", Profile{}, []byte{0xa1, 0x61, 'a', 0x80}, true},
		{"unknown key", Profile{}, []byte{0xa1, 0x61, 'b', 0x80}, false},
		{"duplicate key", Profile{}, []byte{0xa2, 0x61, 'a', 0x80, 0x61, 'a', 0x80}, false},
		{"indefinite array", Profile{}, []byte{0xa1, 0x61, 'a', 0x9f, 0xff}, false},
		{"tag refused", Profile{}, []byte{0xa1, 0x61, 'a', 0xc1, 0x80}, false},
		{"tag allowed", Profile{Tags: true}, []byte{0xa1, 0x61, 'a', 0xc1, 0x80}, false}, // allowed by the mode, but not into []int
		{"key case folded", Profile{}, []byte{0xa1, 0x61, 'A', 0x80}, true},
		{"key case exact", Profile{ExactKeys: true}, []byte{0xa1, 0x61, 'A', 0x80}, false},
		{"array at minimum", Profile{}, arr(16), true},
		{"array over minimum", Profile{Limits: Limits{MaxArrayElements: 1}}, arr(17), false},
		{"array at limit", Profile{Limits: Limits{MaxArrayElements: 300}}, arr(300), true},
		{"array over limit", Profile{Limits: Limits{MaxArrayElements: 300}}, arr(301), false},
	}
	for _, tc := range tests {
		_, dm := Strict(tc.p)
		var got v
		err := dm.Unmarshal(tc.in, &got)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestStrictTagAllowed(t *testing.T) {
	_, dm := Strict(Profile{Tags: true})
	var got cbor.Tag
	if err := dm.Unmarshal([]byte{0xd8, 42, 0x41, 0}, &got); err != nil || got.Number != 42 {
		t.Fatalf("tag 42: %v, %v", got, err)
	}
	_, dm = Strict(Profile{})
	if err := dm.Unmarshal([]byte{0xd8, 42, 0x41, 0}, &got); err == nil {
		t.Fatal("tag 42 accepted without Tags")
	}
}

func TestStrictOrder(t *testing.T) {
	m := map[any]int{1000: 1, "a": 2} // keys 19 03e8 and 61 61
	for _, tc := range []struct {
		o    Order
		want string
	}{
		{LengthFirst, "\xa2\x61a\x02\x19\x03\xe8\x01"},
		{Bytewise, "\xa2\x19\x03\xe8\x01\x61a\x02"},
	} {
		em, _ := Strict(Profile{Order: tc.o})
		b, err := em.Marshal(m)
		if err != nil || string(b) != tc.want {
			t.Errorf("order %d: %x, %v; want %x", tc.o, b, err, tc.want)
		}
	}
}
