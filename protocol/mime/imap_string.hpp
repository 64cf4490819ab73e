#pragma once
// IMAP string output exactly as Dovecot 2.3 writes it (lib-imap/imap-quote.c): the choice
// between quoted string and literal, and the "for humans" cleanup used for subjects and
// display names. Clients compare these bytes with what a reference server sent, so the
// choices are Dovecot's, not the shortest possible encoding.

#include <optional>
#include <string>
#include <string_view>

namespace icalgate::protocol::mime {

// A quoted string, dropping CR, LF and 8-bit bytes and escaping '"' and '\'.
void append_quoted(std::string& out, std::string_view s);

// A string: quoted unless it holds CR, LF, an 8-bit byte or more than four quoted-specials,
// in which case a {n} literal. Stops at the first NUL, like Dovecot's C strings.
void append_string(std::string& out, std::string_view s);

// NIL for nullopt, otherwise append_string.
void append_nstring(std::string& out, const std::optional<std::string>& s);

// Like append_nstring, but CR/LF are first removed (a space is kept between joined lines).
void append_nstring_nolf(std::string& out, const std::optional<std::string>& s);

// Subjects and display names: tabs become spaces, runs of whitespace collapse, leading and
// trailing whitespace and CR/LF go, NUL becomes 0x80; literal if anything had to change.
void append_string_for_humans(std::string& out, std::string_view s);

// A {n} literal header followed by the bytes.
void append_literal(std::string& out, std::string_view s);

} // namespace icalgate::protocol::mime
