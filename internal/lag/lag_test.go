package lag

import "testing"

func TestOf(t *testing.T) {
	tests := []struct {
		committed, end, want int64
	}{
		{committed: 0, end: 0, want: 0},
		{committed: 0, end: 1000, want: 1000},
		{committed: 990, end: 1000, want: 10},
		{committed: 1000, end: 1000, want: 0},
		{committed: 1200, end: 1000, want: 0}, // behind leader or truncated log
	}
	for _, tt := range tests {
		if got := Of(tt.committed, tt.end); got != tt.want {
			t.Errorf("Of(%d, %d) = %d, want %d", tt.committed, tt.end, got, tt.want)
		}
	}
}
