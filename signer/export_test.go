package signer

// PlusOrder is plusOrder (batch_test.go) for the external tests.
var PlusOrder = plusOrder
