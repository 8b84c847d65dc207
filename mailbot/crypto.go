package mailbot

import (
	"mailbot/store"
)

// cryptoFacts is what OpenPGP processing learned about one message.
type cryptoFacts struct {
	encrypted      bool
	signed         bool
	signatureValid bool
	signer         string   // fingerprint of a known signer
	noKey          bool     // encrypted to a key we do not hold
	damaged        bool     // integrity or format failure
	keyIDs         []string // recipients of undecryptable data
	reason         string   // why decryption failed, for the team
	plainText      string   // text of the decrypted parts, kept apart from the rest (EFAIL)
}

func (c cryptoFacts) unreadable() bool { return c.noKey || c.damaged }

func (c cryptoFacts) apply(m *store.Message) {
	m.Encrypted = c.encrypted
	m.Signed = c.signed
	m.SignatureValid = c.signatureValid
	m.SignerFingerprint = c.signer
	if c.reason != "" {
		m.Reason = c.reason
	}
}

// text is what the report says, subject included: the decrypted text when
// it was encrypted, else the plain text body.
func (in *incoming) text() string {
	body := in.msg.Text
	if in.crypto.encrypted && in.crypto.plainText != "" {
		body = in.crypto.plainText
	}
	return in.msg.Subject + "\n" + body
}

// openCrypto decrypts and verifies the OpenPGP parts of in.msg.
func (d *Daemon) openCrypto(in *incoming) {
	// Filled in with mailbot/pgp (issue 4).
}

// fingerprint is the bot's key fingerprint, "" without a key.
func (d *Daemon) fingerprint() string {
	if d.keys == nil {
		return ""
	}
	return d.keys.Fingerprint()
}
