#include "proxy/cli_inspect.hpp"

#include "calendar/meeting_rewrite.hpp"
#include "protocol/fetch_item.hpp"
#include "protocol/fetch_render.hpp"
#include "protocol/mime/message.hpp"
#include "proxy/cli_files.hpp"

#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>

namespace icalgate::proxy {

namespace {

constexpr std::string_view kDefaultItems = "RFC822.SIZE BODYSTRUCTURE ENVELOPE";

std::string internaldate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%d-%b-%Y %H:%M:%S +0000", &tm);
  return buf;
}

} // namespace

int run_inspect(std::span<char* const> args) {
  // `--rewrite --event EVENT.json` before FILE: answer for the rewritten message.
  const char* event_path = nullptr;
  if (!args.empty() && std::string_view(args[0]) == "--rewrite") {
    if (args.size() < 3 || std::string_view(args[1]) != "--event") {
      std::fputs("icalgate inspect: usage: icalgate inspect --rewrite --event EVENT.json FILE "
                 "[ITEMS]\n",
                 stderr);
      return 2;
    }
    event_path = args[2];
    args = args.subspan(3);
  }
  if (args.empty() || args.size() > 2) {
    std::fputs("icalgate inspect: usage: icalgate inspect [--rewrite --event EVENT.json] FILE "
               "[ITEMS]\n",
               stderr);
    return 2;
  }
  const std::string name = printable(args[0]);
  std::string items_text(args.size() == 2 ? std::string_view(args[1]) : kDefaultItems);
  // A list without parentheses is accepted as if they were there.
  const auto first = items_text.find_first_not_of(" \t");
  if (first == std::string::npos) {
    std::fputs("icalgate inspect: empty item list\n", stderr);
    return 2;
  }
  auto items = protocol::parse_fetch_items(items_text);
  if (!items && items_text[first] != '(') {
    items = protocol::parse_fetch_items("(" + items_text + ")");
  }
  if (!items) {
    std::fprintf(stderr, "icalgate inspect: invalid item list: %s\n",
                 printable(items.error().message).c_str());
    return 2;
  }
  std::string bytes;
  std::string error;
  std::time_t mtime = 0;
  if (!read_cli_file(args[0], bytes, error, &mtime)) {
    std::fprintf(stderr, "icalgate inspect: %s: %s\n", name.c_str(), error.c_str());
    return 2;
  }
  if (event_path != nullptr) {
    std::string event;
    if (!read_cli_file(event_path, event, error)) {
      std::fprintf(stderr, "icalgate inspect: %s: %s\n", printable(event_path).c_str(),
                   error.c_str());
      return 2;
    }
    auto rewritten = calendar::rewrite_meeting_message(bytes, event);
    if (!rewritten) {
      std::fprintf(stderr, "icalgate inspect: %s: %s\n", name.c_str(),
                   printable(rewritten.error().message).c_str());
      return 2;
    }
    bytes = std::move(rewritten).value();
  }
  // Answer for the message as the reference server would have stored it.
  auto msg = protocol::mime::parse_message(protocol::mime::dovecot_stored_form(bytes));
  if (!msg) {
    std::fprintf(stderr, "icalgate inspect: %s: %s\n", name.c_str(), msg.error().message.c_str());
    return 2;
  }
  protocol::FetchContext ctx;
  ctx.internaldate = internaldate(mtime);
  auto response = protocol::render_fetch(*msg, *items, ctx);
  if (!response) {
    std::fwrite(response.error().message.data(), 1, response.error().message.size(), stdout);
    std::fputs("\r\n", stdout);
    return 1;
  }
  std::fwrite(response->data(), 1, response->size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 2;
}

} // namespace icalgate::proxy
