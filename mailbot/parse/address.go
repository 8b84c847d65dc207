package parse

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxAddressLen is the longest address kept: RFC 5321 section 4.5.3.1.3
// allows 256 octets for a path, angle brackets included.
const maxAddressLen = 254

// ValidAddress reports whether s is a mailbox the bot may store and write
// to: local@domain, where the local part is a dot-atom of RFC 5322 section
// 3.2.3 atext (UTF-8 allowed, RFC 6532 section 3.2) and the domain a dot
// separated host name (U-labels allowed) or an address literal (RFC 5321
// section 4.1.3). No control byte, space, format character, quote, angle
// bracket or other special can be part of it, whatever a lenient parse made
// of a header: an address goes into RCPT TO, a case and a terminal as is.
func ValidAddress(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || len(s) > maxAddressLen || !utf8.ValidString(s) {
		return false
	}
	return validLocal(s[:at]) && validDomain(s[at+1:])
}

// validStoredAddress is ValidAddress, or a bare word without "@" made of
// atext alone. QUIRK: some robots send From: MAILER-DAEMON; the word is kept
// so triage recognises it, and ValidAddress keeps it out of RCPT TO.
func validStoredAddress(s string) bool {
	if strings.IndexByte(s, '@') < 0 {
		return s != "" && len(s) <= maxAddressLen && utf8.ValidString(s) && allRunes(s, isAtext)
	}
	return ValidAddress(s)
}

// validLocal: atext runs separated by dots. QUIRK: leading, trailing and
// doubled dots ("taro..yamada@", old Japanese mobile carriers) are kept;
// they are not the bytes this check is about.
func validLocal(s string) bool {
	return strings.Trim(s, ".") != "" && allRunes(s, func(r rune) bool { return r == '.' || isAtext(r) })
}

func validDomain(s string) bool {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") && len(s) > 2 {
		// RFC 5321 section 4.1.3: [192.0.2.1] or [IPv6:2001:db8::1].
		lit := strings.TrimPrefix(s[1:len(s)-1], "IPv6:")
		return allRunes(lit, func(r rune) bool {
			return r == '.' || r == ':' || r < utf8.RuneSelf && unicode.Is(unicode.ASCII_Hex_Digit, r)
		})
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || !allRunes(label, isDomainRune) {
			return false
		}
	}
	return true
}

// isAtext is RFC 5322 section 3.2.3 atext, widened by RFC 6532 section 3.2
// to non-ASCII characters, of which only letters, marks, digits, symbols and
// punctuation are taken: never a space, control or format character.
func isAtext(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
	}
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.S, unicode.P)
}

// isDomainRune: letters, digits and hyphen (RFC 1035 section 2.3.1), the
// underscore some hosts carry, and letters, marks and digits of U-labels
// (RFC 5890).
func isDomainRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_'
	}
	return unicode.In(r, unicode.L, unicode.M, unicode.N)
}

func allRunes(s string, ok func(rune) bool) bool {
	for _, r := range s {
		if !ok(r) {
			return false
		}
	}
	return true
}
