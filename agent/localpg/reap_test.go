package localpg

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestReapOrphans(t *testing.T) {
	// A process that has exited: its PID names no live process.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	mk := func(owner int) string {
		dir, err := os.MkdirTemp("", "pgduet-reaptest-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(owner)), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	orphan, alive := mk(dead), mk(os.Getppid())
	reapOrphans()
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("cluster dir of a dead owner was kept (%v)", err)
	}
	if _, err := os.Stat(alive); err != nil {
		t.Errorf("cluster dir of a live owner was removed: %v", err)
	}
}
