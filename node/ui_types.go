package node

// The web view's wire: the answers of its JSON endpoints (ui.go), read by
// its script (ui/ui.js). Keys follow the CLI's JSON: a record's CID is
// "record", the content it names "output", its inputs' contents "inputs".

// UIAncestry is GET /ui/v1/ancestry?q=: what the query named and its
// checked ancestry, breadth first and cut to at most MaxUINodes nodes.
type UIAncestry struct {
	Query string `json:"query"`
	// Kind is how the query was read: path, cid, record or sha256.
	Kind string `json:"kind"`
	// Path is the file asked for (kind path).
	Path string `json:"path,omitempty"`
	// Record is the record asked for (kind record): Target is its output.
	Record string `json:"record,omitempty"`
	// Recorded is the content the node recorded at Path when the file
	// holds other content now (Changed): Target is what it holds now.
	Recorded string `json:"recorded,omitempty"`
	Changed  bool   `json:"changed"`
	// Unhashed says why the file at Path was not hashed again (gone,
	// unreadable, reached through a symbolic link or with several
	// names): then Target is the content recorded.
	Unhashed string `json:"unhashed,omitempty"`
	// ResultView's Target is the content CID whose ancestry was checked;
	// Complete is false when the check's deadline cut it short.
	ResultView
	// Nodes are NodeViews whose inputs list only nodes in the answer.
	Nodes []NodeView `json:"nodes"`
	// Cut counts the nodes of the ancestry left out past MaxUINodes
	// (the deepest, breadth first); their failures are still counted in
	// Counts.
	Cut int `json:"cut"`
}

// UIOutbox is GET /ui/v1/outbox: the node's own records not yet
// published, the longest due first, at most MaxUIList of them.
type UIOutbox struct {
	Pending   int            `json:"pending"`
	Published int            `json:"published"`
	Entries   []UIOutboxItem `json:"entries"`
}

// UIOutboxItem is one pending outbox entry.
type UIOutboxItem struct {
	Record    string `json:"record"`
	Attempts  int    `json:"attempts"`
	NextTry   string `json:"next_try,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// UIPins is GET /ui/v1/pins: the node's pins, at most MaxUIList, and how
// many there are.
type UIPins struct {
	Total int      `json:"total"`
	Pins  []APIPin `json:"pins"`
}
