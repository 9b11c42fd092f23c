package e2e

import (
	"bufio"
	"os"
	"testing"
	"time"
)

// TestKcatPipeCatchUp: catchUp returns only once the lines written to the
// pipe before it was called are handled, however late the reader is.
func TestKcatPipeCatchUp(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pipe := &kcatPipe{r: r, closed: make(chan struct{})}
	if _, err := w.WriteString("% Group g rebalanced (memberid m-1): revoked: t [0]\n1 5\n"); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var handled []string
	go func() {
		defer close(pipe.closed)
		defer r.Close()
		<-release // a reader that is late
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			handled = append(handled, sc.Text())
			pipe.handled.Add(int64(len(sc.Text())) + 1)
		}
	}()
	caughtUp := make(chan struct{})
	go func() {
		pipe.catchUp(time.Minute)
		close(caughtUp)
	}()
	select {
	case <-caughtUp:
		t.Fatal("catchUp returned before the reader handled what was written")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-caughtUp:
	case <-time.After(time.Minute):
		t.Fatal("catchUp did not return once the reader handled everything")
	}
	if len(handled) < 2 {
		t.Errorf("catchUp returned after %d of the 2 lines written were handled", len(handled))
	}
}
