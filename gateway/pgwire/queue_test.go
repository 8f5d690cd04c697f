package pgwire

import "testing"

// The queue reuses its records, but never one the server pump may still
// hold: a popped record keeps its contents, whatever is pushed, until the
// pump recycles it.
func TestQueueReusesRecordsOnlyAfterRecycle(t *testing.T) {
	q := &queue{}
	q.push(pending{kind: 'P', name: "s1"})
	q.push(pending{kind: 'B', name: "p1"})
	first := q.pop()
	for range 3 {
		q.push(pending{kind: 'E', name: "later"})
	}
	if first.kind != 'P' || first.name != "s1" {
		t.Fatalf("a popped record was reused before recycle: %+v", *first)
	}
	q.recycle()
	if first.kind != 0 || first.name != "" {
		t.Fatalf("a recycled record still holds %+v", *first)
	}
	q.push(pending{kind: 'S'})
	// Drain: B, E, E, E, then the S just pushed, which reused first's record.
	var last *pending
	for range 5 {
		last = q.pop()
	}
	if last != first || last.kind != 'S' || last.name != "" {
		t.Fatalf("the record pushed after recycle: %p %+v, want the recycled %p holding a Sync", last, *last, first)
	}
	if q.pop() != nil || !q.empty() {
		t.Fatal("the queue is not empty after draining it")
	}
	q.recycle()
	if len(q.free) > maxFreePending || len(q.done) != 0 {
		t.Fatalf("free %d, done %d after recycling everything", len(q.free), len(q.done))
	}
}
