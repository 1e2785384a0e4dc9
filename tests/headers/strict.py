"""Parses every .eml in a folder with Python's email package under policy.strict and
checks each header Switchboard wrote: no defect in the message or in any header, and
From/To/Reply-To/Subject read back as the .json beside each file expects.
Prints one line per problem; exits 1 when there is any, 0 (after 'N checked') when not."""
import email
import email.header
import email.policy
import json
import pathlib
import sys

folder = pathlib.Path(sys.argv[1])
problems = []
checked = 0
for path in sorted(folder.glob("*.eml")):
    expected = json.loads(path.with_suffix(".json").read_text("utf-8"))
    try:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.strict)
    except Exception as e:  # strict raises on message defects
        problems.append(f"{path.name}: {type(e).__name__}: {e}")
        continue
    if msg.defects:
        problems.append(f"{path.name}: message defects {msg.defects!r}")
    for name in ["From", "To", "Reply-To", "Subject", "Message-ID", "Date"]:
        try:
            header = msg[name]
        except Exception as e:
            problems.append(f"{path.name}: {name}: {type(e).__name__}: {e}")
            continue
        if header is None:
            if name in expected:
                problems.append(f"{path.name}: no {name}")
            continue
        if header.defects:
            problems.append(f"{path.name}: {name}: {header.defects!r} in {str(header)!r}")
        want = expected.get(name)
        if want is None:
            continue
        if name == "Subject":
            got = " ".join(str(header).split())
            if got != " ".join(want.split()):
                problems.append(f"{path.name}: Subject {got!r}, expected {want!r}")
        else:
            addresses = header.addresses
            if len(addresses) != 1:
                problems.append(f"{path.name}: {name}: {len(addresses)} addresses in {str(header)!r}")
                continue
            # White space between two encoded words is no part of the name (RFC 2047
            # §6.2), but this package keeps it in a display name: compare the name
            # without white space, as any decoder that follows the RFC reads it.
            got_name = "".join(addresses[0].display_name.split())
            got_addr = addresses[0].addr_spec
            if got_name != "".join(want["name"].split()) or got_addr != want["address"]:
                problems.append(
                    f"{path.name}: {name}: {got_name!r} <{got_addr}>, expected {want!r}"
                )
    # Every part's headers too (multipart/alternative, attachments): no defect, and
    # the attachment's file name reads back as written (RFC 2231, as Python reads it).
    attachments = []
    for part in msg.walk():
        for name in ["Content-Type", "Content-Disposition", "Content-ID"]:
            try:
                header = part[name]
            except Exception as e:
                problems.append(f"{path.name}: part {name}: {type(e).__name__}: {e}")
                continue
            if header is None:
                continue
            defects = list(header.defects)
            # The one deliberate exception (compose/part.rs): RFC 2047 words in
            # Content-Type's quoted `name`, as Thunderbird writes and Outlook and
            # Foxmail read. Allowed only there, and the words must decode to the name
            # that filename* gives.
            raw = dict((k.lower(), v) for k, v in part.raw_items()).get("content-type", "")
            raw_name = raw.split("name=", 1)[1] if name == "Content-Type" and "name=" in raw else None
            if raw_name and "=?" in raw_name:
                raw_name = raw_name.strip().strip('"')
                allowed = ("encoded word inside quoted string", "missing trailing whitespace after encoded-word")
                defects = [d for d in defects if not any(a in str(d) for a in allowed)]
                decoded = str(email.header.make_header(email.header.decode_header(str(raw_name).replace("\r\n", ""))))
                if "".join(decoded.split()) != "".join((part.get_filename() or "").split()):
                    problems.append(f"{path.name}: name {decoded!r} is not filename* {part.get_filename()!r}")
            if defects:
                problems.append(f"{path.name}: part {name}: {defects!r} in {str(header)!r}")
        if part.is_attachment():
            attachments.append(part.get_filename())
    if msg.is_multipart():
        types = [p.get_content_type() for p in msg.walk()]
        if "text/html" in types and types.index("text/plain") > types.index("text/html"):
            problems.append(f"{path.name}: text/html before text/plain: {types}")
    want = expected.get("Attachment")
    if want is not None and attachments != [want]:
        problems.append(f"{path.name}: attachments {attachments!r}, expected {[want]!r}")
    checked += 1
for p in problems:
    print(p)
print(f"{checked} checked, {len(problems)} problem(s)")
sys.exit(1 if problems or checked == 0 else 0)
