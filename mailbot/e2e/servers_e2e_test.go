//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Passwords of the two mailboxes every environment has.
const (
	botAddr    = "security@example.org"
	adaAddr    = "ada@example.org"
	botPass    = "bot-secret"
	adaPass    = "ada-secret"
	annAddr    = "ann@example.org" // a team member (team_e2e_test.go)
	annPass    = "ann-secret"
	serverWait = 30 * time.Second // bound for a server to come up or go down
)

// freePorts returns n different loopback ports nobody listens on right now:
// all n are held open together, so none is handed out twice.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("net.Listen() = %v", err)
		}
		defer ln.Close()
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	return ports
}

// waitPort waits until addr accepts connections (up) or refuses them (!up),
// polling with a bounded loop.
func waitPort(addr string, up bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		if (err == nil) == up {
			return nil
		}
		if time.Now().After(deadline) {
			state := "accept"
			if !up {
				state = "refuse"
			}
			return fmt.Errorf("%s did not %s connections within %s", addr, state, timeout)
		}
		<-tick.C
	}
}

// proc is a server process we started and stop by its pid.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd.Wait's result, valid after done
}

func startProc(name string, cmd *exec.Cmd) (*proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer func() {
			if v := recover(); v != nil {
				p.err = fmt.Errorf("%s: wait: panic: %v", name, v)
			}
		}()
		p.err = cmd.Wait()
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process and waits up to timeout for it to exit,
// then kills it.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) error {
	if p.exited() {
		return nil
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s (pid %d) did not stop on %v within %s: killed", p.name, p.cmd.Process.Pid, sig, timeout)
}

// dovecot is one Dovecot instance serving IMAP, LMTP (for Postfix) and SASL
// (for Postfix's AUTH) on loopback ports, with maildirs under its folder.
type dovecot struct {
	dir                          string
	conf                         string
	imapAddr, lmtpAddr, authAddr string
	p                            *proc
}

func newDovecot(t *testing.T, dir string) *dovecot {
	t.Helper()
	d := &dovecot{dir: dir, conf: filepath.Join(dir, "dovecot.conf")}
	ports := freePorts(t, 3)
	imapPort, lmtpPort, authPort := ports[0], ports[1], ports[2]
	d.imapAddr = "127.0.0.1:" + imapPort
	d.lmtpAddr = "127.0.0.1:" + lmtpPort
	d.authAddr = "127.0.0.1:" + authPort
	conf := fmt.Sprintf(`# written by the e2e suite
base_dir = DIR/run
state_dir = DIR/state
listen = 127.0.0.1
protocols = imap lmtp
log_path = DIR/dovecot.log
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = no
mail_location = maildir:DIR/mail/%%n/Maildir
mail_max_userip_connections = 200
postmaster_address = postmaster@example.org
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%n DIR/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=DIR/mail/%%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %s
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %s
  }
}
service auth {
  inet_listener {
    address = 127.0.0.1
    port = %s
  }
}
`, imapPort, lmtpPort, authPort)
	conf = strings.ReplaceAll(conf, "DIR", dir)
	passwd := fmt.Sprintf("security:{PLAIN}%s\nada:{PLAIN}%s\nann:{PLAIN}%s\nbob:{PLAIN}%s\n", botPass, adaPass, annPass, annPass)
	for _, sub := range []string{"run", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatalf("MkdirAll() = %v", err)
		}
	}
	write(t, d.conf, conf, 0o644)
	write(t, filepath.Join(dir, "passwd"), passwd, 0o644)
	if out, err := exec.Command("chown", "-R", "nobody:nogroup", filepath.Join(dir, "mail")).CombinedOutput(); err != nil {
		t.Fatalf("chown mail = %v: %s", err, out)
	}
	return d
}

// start runs Dovecot in the foreground (-F) and waits for its listeners.
func (d *dovecot) start(t *testing.T) {
	t.Helper()
	p, err := startProc("dovecot", exec.Command("dovecot", "-F", "-c", d.conf))
	if err != nil {
		t.Fatalf("start dovecot: %v (run make e2e (it installs dovecot, postfix, gnupg))", err)
	}
	d.p = p
	for _, addr := range []string{d.imapAddr, d.lmtpAddr, d.authAddr} {
		if err := waitPort(addr, true, serverWait); err != nil {
			t.Fatalf("dovecot: %v\n%s", err, tail(filepath.Join(d.dir, "dovecot.log"), 30))
		}
	}
}

// stop stops Dovecot by the pid of its master process and waits until the
// IMAP port refuses connections.
func (d *dovecot) stop(t *testing.T) {
	t.Helper()
	if d.p == nil {
		return
	}
	if err := d.p.stop(syscall.SIGTERM, serverWait); err != nil {
		t.Errorf("dovecot: %v", err)
	}
	d.p = nil
	if err := waitPort(d.imapAddr, false, serverWait); err != nil {
		t.Errorf("dovecot: %v", err)
	}
}

// postfix is one Postfix instance: SMTP on a loopback port, delivering
// example.org over LMTP into Dovecot and nothing anywhere else.
type postfix struct {
	dir, etc string
	smtpAddr string
	p        *proc
	started  bool
}

func newPostfix(t *testing.T, dir string, dc *dovecot, discardOutside bool) *postfix {
	t.Helper()
	pf := &postfix{dir: dir, etc: filepath.Join(dir, "etc")}
	port := freePorts(t, 1)[0]
	pf.smtpAddr = "127.0.0.1:" + port
	for _, sub := range []string{"etc", "spool", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatalf("MkdirAll() = %v", err)
		}
	}
	if out, err := exec.Command("chown", "postfix", filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("chown data = %v: %s", err, out)
	}
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Fatalf("read master.cf: %v (run make e2e (it installs dovecot, postfix, gnupg))", err)
	}
	write(t, filepath.Join(pf.etc, "master.cf"), masterCF(string(master), port), 0o644)
	main := fmt.Sprintf(`# written by the e2e suite
compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
myhostname = mx.example.org
mydestination =
alias_maps =
alias_database =
virtual_mailbox_domains = example.org
virtual_transport = lmtp:inet:%[2]s
default_transport = error:no outside delivery
relay_transport = error:no outside delivery
maillog_file = /dev/stdout
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:%[3]s
in_flow_delay = 0
biff = no
`, dir, dc.lmtpAddr, dc.authAddr)
	if discardOutside {
		main += discardOutsideCF
	}
	write(t, filepath.Join(pf.etc, "main.cf"), main, 0o644)
	return pf
}

// masterCF moves the smtp service to port and turns chroot off everywhere:
// the instance lives in a scratch folder, not in /var/spool/postfix.
func masterCF(in string, port string) string {
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(in))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 8 && !strings.HasPrefix(line, "#") && line[0] != ' ' && line[0] != '\t' {
			if f[0] == "smtp" && f[1] == "inet" {
				f[0] = port
			}
			f[4] = "n"
			line = strings.Join(f, " ")
		}
		out.WriteString(line + "\n")
	}
	return out.String()
}

// start runs `postfix start-fg` (its log goes to postfix.log) and waits for
// its smtpd to greet. A restarted Postfix once accepted connections and
// never greeted (the bot then waited minutes for an acknowledgement), so a
// start that does not greet within greetWait is stopped hard and tried
// again, twice at most.
func (pf *postfix) start(t *testing.T) {
	t.Helper()
	const attempts = 3
	for attempt := 1; ; attempt++ {
		err := pf.startOnce(t)
		if err == nil {
			return
		}
		log := tail(filepath.Join(pf.dir, "postfix.log"), 30)
		if attempt == attempts {
			t.Fatalf("postfix: start %d of %d: %v\n%s", attempt, attempts, err, log)
		}
		t.Logf("postfix: start %d of %d: %v; stopping it and starting again\n%s", attempt, attempts, err, log)
		pf.kill(t)
	}
}

// greetWait bounds the wait for the SMTP greeting once the port is open.
const greetWait = 15 * time.Second

func (pf *postfix) startOnce(t *testing.T) error {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(pf.dir, "postfix.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("postfix log: %v", err)
	}
	defer logf.Close()
	if pf.started {
		// The queue exists: skip the integrity check, which takes seconds
		// (postfix-script honours this file once).
		write(t, filepath.Join(pf.dir, "spool", "quick-start"), "", 0o644)
	}
	pf.started = true
	cmd := exec.Command("postfix", "-c", pf.etc, "start-fg")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that kill reaches every Postfix process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p, err := startProc("postfix", cmd)
	if err != nil {
		t.Fatalf("start postfix: %v (run make e2e (it installs dovecot, postfix, gnupg))", err)
	}
	pf.p = p
	if err := waitPort(pf.smtpAddr, true, serverWait); err != nil {
		return err
	}
	return waitGreeting(pf.smtpAddr, greetWait)
}

// waitGreeting waits until the SMTP server at addr sends its 220 greeting
// (RFC 5321 section 4.3.1), polling with a bounded loop.
func waitGreeting(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var line string
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(max(time.Second, time.Until(deadline))))
			line, err = bufio.NewReader(c).ReadString('\n')
			c.Write([]byte("QUIT\r\n"))
			c.Close()
			if err == nil && strings.HasPrefix(line, "220") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not greet within %s: read %q, %v", addr, timeout, line, err)
		}
		<-tick.C
	}
}

// stop says `postfix stop` and waits for start-fg to return, both within
// serverWait, then kills whatever of the instance is left (nothing, when
// the stop went well).
func (pf *postfix) stop(t *testing.T) {
	t.Helper()
	if pf.p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), serverWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, "postfix", "-c", pf.etc, "stop").CombinedOutput()
	if err != nil && !pf.p.exited() {
		t.Errorf("postfix stop = %v: %s", err, out)
	}
	select {
	case <-pf.p.done:
	case <-ctx.Done():
		t.Errorf("postfix did not stop within %s", serverWait)
	}
	pf.kill(t)
	if err := waitPort(pf.smtpAddr, false, serverWait); err != nil {
		t.Errorf("postfix: %v", err)
	}
}

// kill ends this instance at once: its master (by its pid file) and every
// process in start-fg's process group. Stray processes are what made a
// hung instance outlive the test.
func (pf *postfix) kill(t *testing.T) {
	t.Helper()
	if pf.p == nil {
		return
	}
	if pid, err := readPid(filepath.Join(pf.dir, "spool", "pid", "master.pid")); err == nil && !pf.p.exited() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	syscall.Kill(-pf.p.cmd.Process.Pid, syscall.SIGKILL) // the group; ESRCH once all are gone
	// Postfix's master calls setsid, and so leaves the group with its
	// children; a hung "master -t" or smtpd of a failed start outlived the
	// test that way and kept the next start from greeting. Every process of
	// the instance works in its queue directory.
	killUnder(pf.dir)
	select {
	case <-pf.p.done:
	case <-time.After(serverWait):
		t.Errorf("postfix start-fg (pid %d) still running %s after SIGKILL", pf.p.cmd.Process.Pid, serverWait)
	}
	pf.p = nil
}

// killUnder SIGKILLs every process whose working directory is dir or below.
func killUnder(dir string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, p := range procs {
		cwd, err := os.Readlink(p)
		if err != nil || (cwd != dir && !strings.HasPrefix(cwd, dir+"/")) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, errors.New("bad pid file " + path)
	}
	return pid, nil
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("MkdirAll() = %v", err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatalf("WriteFile(%s) = %v", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatalf("Chmod(%s) = %v", path, err)
	}
}

// tail is the last n lines of a log file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return path + ":\n" + strings.Join(lines, "\n")
}

// TestWaitGreeting: the Postfix restart check tells a server that greets
// from one that accepts connections and says nothing.
func TestWaitGreeting(t *testing.T) {
	serve := func(greeting string) string {
		t.Helper()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		t.Cleanup(func() { ln.Close(); <-done })
		go func() {
			defer close(done)
			var conns []net.Conn // held open: a silent server does not hang up
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				if greeting != "" {
					c.Write([]byte(greeting))
				}
				conns = append(conns, c)
			}
		}()
		return ln.Addr().String()
	}
	if err := waitGreeting(serve("220 mx.example.org ESMTP\r\n"), 5*time.Second); err != nil {
		t.Errorf("waitGreeting(greets) = %v, want nil", err)
	}
	if err := waitGreeting(serve(""), 300*time.Millisecond); err == nil {
		t.Error("waitGreeting(silent) = nil, want an error")
	}
	if err := waitGreeting(serve("421 too busy\r\n"), 300*time.Millisecond); err == nil {
		t.Error("waitGreeting(421) = nil, want an error")
	}
}
