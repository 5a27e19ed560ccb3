#include "core/userdb.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "core/limits.hpp"
#include "core/read_file.hpp"

namespace keel {
namespace {

// (uid_t)-1 and (gid_t)-1 mean "leave unchanged" to setresuid/setresgid and
// chown, so they can never name a real account.
constexpr std::uint64_t kMaxId = 0xFFFFFFFEu;
static_assert(sizeof(uid_t) == 4 && sizeof(gid_t) == 4, "ids are assumed to be 32-bit");

struct FileContexts {
  const char* open;
  const char* read;
};
constexpr FileContexts kPasswdContexts{"open passwd", "read passwd"};
constexpr FileContexts kGroupContexts{"open group", "read group"};

// A plain decimal id: digits only (no sign, no spaces), within kMaxId.
// from_chars alone would accept neither sign but also stop at the first
// non-digit, hence the full-length check.
std::optional<std::uint32_t> parse_id(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || value > kMaxId) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

bool all_digits(std::string_view text) noexcept {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Whole file in memory: the files are small, and a string lets the parser
// work on string_views without caring how read() split the data. The
// errors keep this file's step names ("open passwd", "read group").
Status read_file(const char* path, const FileContexts& ctx, std::string& out) {
  Status s = keel::read_file(path, out, limits::kMaxUserDbBytes);
  if (s) return {};
  const bool at_open = std::strcmp(s.error().context, "open") == 0;
  return Error{s.error().code, at_open ? ctx.open : ctx.read};
}

// Split `line` on ':' into exactly N fields; false on any other count.
template <std::size_t N>
bool split_fields(std::string_view line, std::array<std::string_view, N>& fields) noexcept {
  std::size_t count = 0;
  for (;;) {
    std::size_t colon = line.find(':');
    if (count == N) return false;
    fields[count++] = line.substr(0, colon);
    if (colon == std::string_view::npos) break;
    line.remove_prefix(colon + 1);
  }
  return count == N;
}

// Calls `fn(fields)` for every well-formed line until it returns true.
// `id_field` is the index of the field that must hold a valid id; the
// parsed id is passed along so callers never re-parse.
template <std::size_t N, typename Fn>
void for_each_entry(std::string_view content, std::size_t id_field, Fn&& fn) {
  while (!content.empty()) {
    std::size_t nl = content.find('\n');
    std::string_view line = content.substr(0, nl);
    content.remove_prefix(nl == std::string_view::npos ? content.size() : nl + 1);

    if (line.empty() || line[0] == '#' || line[0] == '+' || line[0] == '-') continue;
    std::array<std::string_view, N> fields{};
    if (!split_fields(line, fields) || fields[0].empty()) continue;
    std::optional<std::uint32_t> id = parse_id(fields[id_field]);
    if (!id) continue;
    if (fn(fields, *id)) return;
  }
}

constexpr std::size_t kPasswdFields = 7;  // name:passwd:uid:gid:gecos:home:shell
constexpr std::size_t kGroupFields = 4;   // name:passwd:gid:member,member

std::vector<std::string> split_members(std::string_view list) {
  std::vector<std::string> members;
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view member = list.substr(0, comma);
    if (!member.empty()) members.emplace_back(member);
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
  }
  return members;
}

bool has_member(std::string_view list, std::string_view name) noexcept {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    if (list.substr(0, comma) == name) return true;
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
  }
  return false;
}

}  // namespace

Result<UserEntry> find_user(std::string_view name_or_uid, const char* passwd_path) {
  if (name_or_uid.empty()) return Error{EINVAL, "empty user name"};
  std::optional<std::uint32_t> want_uid;
  if (all_digits(name_or_uid)) {
    want_uid = parse_id(name_or_uid);
    if (!want_uid) return Error{EINVAL, "invalid uid"};
  }

  std::string content;
  if (Status st = read_file(passwd_path, kPasswdContexts, content); !st) return st.error();

  std::optional<UserEntry> found;
  for_each_entry<kPasswdFields>(content, 2, [&](const std::array<std::string_view, kPasswdFields>& f,
                                                 std::uint32_t uid) {
    if (want_uid ? uid != *want_uid : f[0] != name_or_uid) return false;
    std::optional<std::uint32_t> gid = parse_id(f[3]);
    if (!gid) return false;  // malformed: keep looking, a later line may match
    found = UserEntry{std::string(f[0]), uid, *gid, std::string(f[5]), std::string(f[6])};
    return true;
  });
  if (found) return std::move(*found);
  if (!want_uid) return Error{ENOENT, "user not found"};
  return UserEntry{std::to_string(*want_uid), *want_uid, *want_uid, "/", ""};
}

Result<GroupEntry> find_group(std::string_view name_or_gid, const char* group_path) {
  if (name_or_gid.empty()) return Error{EINVAL, "empty group name"};
  std::optional<std::uint32_t> want_gid;
  if (all_digits(name_or_gid)) {
    want_gid = parse_id(name_or_gid);
    if (!want_gid) return Error{EINVAL, "invalid gid"};
  }

  std::string content;
  if (Status st = read_file(group_path, kGroupContexts, content); !st) return st.error();

  std::optional<GroupEntry> found;
  for_each_entry<kGroupFields>(content, 2, [&](const std::array<std::string_view, kGroupFields>& f,
                                                std::uint32_t gid) {
    if (want_gid ? gid != *want_gid : f[0] != name_or_gid) return false;
    found = GroupEntry{std::string(f[0]), gid, split_members(f[3])};
    return true;
  });
  if (found) return std::move(*found);
  if (!want_gid) return Error{ENOENT, "group not found"};
  return GroupEntry{std::to_string(*want_gid), *want_gid, {}};
}

Result<std::vector<gid_t>> supplementary_groups(std::string_view user_name, gid_t primary, const char* group_path) {
  std::string content;
  if (Status st = read_file(group_path, kGroupContexts, content); !st) return st.error();

  std::vector<gid_t> gids{primary};
  // An empty name would match the empty member of a "a,,b" list.
  if (user_name.empty()) return gids;
  for_each_entry<kGroupFields>(content, 2, [&](const std::array<std::string_view, kGroupFields>& f,
                                                std::uint32_t gid) {
    // Linear dedupe: setgroups caps the list at NGROUPS_MAX (65536) and real
    // users are in a handful of groups.
    if (has_member(f[3], user_name) && std::find(gids.begin(), gids.end(), gid) == gids.end()) gids.push_back(gid);
    return false;
  });
  return gids;
}

}  // namespace keel
