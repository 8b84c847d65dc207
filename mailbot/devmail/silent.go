package devmail

import (
	"io"
	"net"
	"sync"
)

// Silent is a TCP server on 127.0.0.1 that accepts connections and never
// answers, not even a greeting: a hung IMAP or SMTP server.
type Silent struct {
	Addr string
	// Accepted gets a value for each connection accepted, Closed for each
	// one the client closed (both buffered; values beyond 64 are dropped).
	Accepted, Closed chan struct{}

	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	closed bool // Close ran: a connection accepted after it is closed at once
}

// StartSilent listens on 127.0.0.1:0.
func StartSilent() (*Silent, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Silent{Addr: ln.Addr().String(), Accepted: make(chan struct{}, 64), Closed: make(chan struct{}, 64), ln: ln}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *Silent) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		notify(s.Accepted)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			io.Copy(io.Discard, c) // until the client closes: never answer
			notify(s.Closed)
		}()
	}
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Close stops listening, closes every connection and waits for them.
func (s *Silent) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}
