//go:build unix

package auth

import (
	"os/exec"
	"syscall"
)

// killGroup makes cmd's timeout kill the helper and everything it started:
// a shell script's children would otherwise outlive it holding stdout.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
