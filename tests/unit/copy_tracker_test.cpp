#include "proxy/copy_tracker.hpp"

#include <catch2/catch_test_macros.hpp>

using namespace icalgate::proxy;

namespace {

using Pairs = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

const MailboxKey inbox{"alice@contoso.com", "INBOX", 7};

void send(CopyTracker& tracker, std::string_view command, const MailboxKey& source = inbox) {
  auto parsed = icalgate::protocol::parse_command(command);
  REQUIRE(parsed);
  tracker.sent(*parsed, source);
}

} // namespace

TEST_CASE("copy_tracker: a COPY's tagged COPYUID names the copies", "[copy_tracker]") {
  CopyTracker tracker;
  send(tracker, "a1 UID COPY 3:4 \"Deleted Items\"\r\n");
  CHECK_FALSE(tracker.idle());
  CHECK_FALSE(tracker.answered("* 5 EXISTS\r\n"));
  CHECK_FALSE(tracker.answered("a0 OK [COPYUID 9 3:4 20:21] not this command\r\n"));
  const auto copied = tracker.answered("a1 OK [COPYUID 99 3:4 20:21] Copy completed\r\n");
  REQUIRE(copied);
  CHECK(copied->from.mailbox == "INBOX");
  CHECK(copied->from.uidvalidity == 7U);
  CHECK(copied->to.user == "alice@contoso.com");
  CHECK(copied->to.mailbox == "Deleted Items");
  CHECK(copied->to.uidvalidity == 99U);
  CHECK(copied->uids == Pairs{{3, 20}, {4, 21}});
  CHECK(tracker.idle());
}

TEST_CASE("copy_tracker: a MOVE's untagged COPYUID counts once", "[copy_tracker]") {
  CopyTracker tracker;
  send(tracker, "m1 MOVE 1 inbox\r\n", MailboxKey{"alice@contoso.com", "Archive", 3});
  CHECK_FALSE(tracker.answered("* OK [ALERT] something else\r\n"));
  CHECK_FALSE(tracker.answered("* 1 FETCH (FLAGS (\\Seen))\r\n"));
  CHECK_FALSE(tracker.answered("*"));
  const auto copied = tracker.answered("* OK [COPYUID 7 12 40] Moved\r\n");
  REQUIRE(copied);
  CHECK(copied->to.mailbox == "INBOX");
  CHECK(copied->uids == Pairs{{12, 40}});
  CHECK_FALSE(tracker.answered("* 1 EXPUNGE\r\n"));
  // A server that repeats it in the tagged OK reports nothing new.
  CHECK_FALSE(tracker.answered("m1 OK [COPYUID 7 12 40] Done\r\n"));
  CHECK(tracker.idle());
}

TEST_CASE("copy_tracker: an untagged COPYUID belongs to the oldest command if a MOVE",
          "[copy_tracker]") {
  CopyTracker tracker;
  send(tracker, "c1 COPY 1 Trash\r\n");
  send(tracker, "c2 MOVE 2 Trash\r\n");
  // c1 is answered first; an untagged COPYUID meanwhile is not c1's (a COPY's is tagged).
  CHECK_FALSE(tracker.answered("* OK [COPYUID 5 1 10] stray\r\n"));
  const auto first = tracker.answered("c1 OK [COPYUID 5 1 10] Done\r\n");
  REQUIRE(first);
  CHECK(first->uids == Pairs{{1, 10}});
  const auto second = tracker.answered("* OK [COPYUID 5 2 11] Moved\r\n");
  REQUIRE(second);
  CHECK(second->uids == Pairs{{2, 11}});
  CHECK_FALSE(tracker.answered("c2 OK Done\r\n"));
  CHECK(tracker.idle());
}

TEST_CASE("copy_tracker: failures and answers without COPYUID end a command", "[copy_tracker]") {
  CopyTracker tracker;
  send(tracker, "c1 COPY 1 Nowhere\r\n");
  send(tracker, "c2 UID COPY 2 Trash\r\n");
  send(tracker, "c3 UID COPY 3 Trash\r\n");
  CHECK_FALSE(tracker.answered("c1 NO [TRYCREATE] Mailbox doesn't exist\r\n"));
  CHECK_FALSE(tracker.answered("c2 OK Copy completed\r\n"));         // UIDNOTSTICKY servers
  CHECK_FALSE(tracker.answered("c3 OK [COPYUID 5 1:2 9] Done\r\n")); // sizes differ
  CHECK(tracker.idle());
}

TEST_CASE("copy_tracker: commands in flight are bounded", "[copy_tracker]") {
  CopyTracker tracker;
  for (std::size_t i = 0; i < CopyTracker::max_pending + 5; ++i) {
    send(tracker, "t" + std::to_string(i) + " COPY 1 Trash\r\n");
  }
  const std::string last = "t" + std::to_string(CopyTracker::max_pending + 4);
  CHECK_FALSE(tracker.answered(last + " OK [COPYUID 5 1 9] Done\r\n"));
  CHECK(tracker.answered("t0 OK [COPYUID 5 1 9] Done\r\n"));
  CHECK_FALSE(tracker.idle());
}
