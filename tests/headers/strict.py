"""Parses every .eml in a folder with Python's email package under policy.strict and
checks each header Switchboard wrote: no defect in the message or in any header, and
From/To/Reply-To/Subject read back as the .json beside each file expects.
Prints one line per problem; exits 1 when there is any, 0 (after 'N checked') when not."""
import email
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
    checked += 1
for p in problems:
    print(p)
print(f"{checked} checked, {len(problems)} problem(s)")
sys.exit(1 if problems or checked == 0 else 0)
