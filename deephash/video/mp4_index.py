"""The keyframes of an MP4/MOV file, from its index: where a keyframe sampler finds them without demuxing.

The MOV demuxer reads the whole sample table when it opens a file, so its index lists every packet of a stream
with its decoding time and keyframe flag (Matroska's cues and a fragmented MP4's index list only some). The
index holds no presentation time, which is what the samplers choose by, so the few keyframes around a target
are read a packet each.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import av
import av.error

from deephash.video.forward import packet_time

_LATER_THAN_ANY = 2**62  # a timestamp after every packet: a seek there lands on the last keyframe


@dataclass
class IndexedKeyframes:
    """A stream's keyframes found by a binary search of its index, each read as one packet when first needed:
    the group of pictures between two keyframes is neither demuxed nor decoded."""

    container: av.container.InputContainer
    stream: av.video.stream.VideoStream
    packets: dict[int, av.Packet]  # keyframes read so far, by decoding time

    @classmethod
    def of(cls, container, stream) -> IndexedKeyframes | None:
        """None unless the index lists every packet of the stream (not a fragmented MP4, not another format)."""
        entries = stream.index_entries
        if not container.format.name.startswith("mov") or len(entries) < 2 or len(entries) != stream.frames:
            return None
        return cls(container, stream, {})

    def around(self, target: float, start: float) -> tuple | None:
        """The last keyframe presented at or before ``target`` and the first after it (seconds from ``start``),
        each as (time, packet) or None, as demuxing from a seek finds them; None when a packet is not where the
        index says (the caller demuxes instead). A keyframe is presented at or after it is decoded, so the last
        keyframe presented at or before the target is the last one decoded by then or the one before it."""
        entries, time_base = self.stream.index_entries, self.stream.time_base
        decoded_by = bisect.bisect_right(  # entries are in decoding order; the index holds no presentation time
            entries, target + 1e-9, key=lambda entry: float(entry.timestamp * time_base) - start
        )
        earlier = self._keyframes(range(decoded_by - 1, -1, -1), 2)[::-1]
        later = self._keyframes(range(decoded_by, len(entries)), 2)
        keyframes = earlier + later  # decoding times of up to two keyframes either side, in order
        before = after = None
        for which in range(max(len(earlier) - 2, 0), min(len(earlier) + 1, len(keyframes))):
            aim = keyframes[which + 1] - 1 if which + 1 < len(keyframes) else _LATER_THAN_ANY
            packet = self._packet(keyframes[which], aim)
            if packet is None:
                return None
            moment = float(packet_time(packet) * time_base) - start
            if moment <= target + 1e-9:
                before = (moment, packet)
            elif after is None:
                after = (moment, packet)
        if before is None and len(earlier) == 2:  # two keyframes decoded by then, neither shown: let demuxing decide
            return None
        return before, after

    def _keyframes(self, positions: range, count: int) -> list[int]:
        """Decoding times of the first ``count`` keyframes at ``positions`` of the index: entries of ``count``
        groups of pictures are walked at most, and no packet is read."""
        found = []
        for position in positions:
            entry = self.stream.index_entries[position]
            if entry.is_keyframe:
                found.append(entry.timestamp)
                if len(found) == count:
                    break
        return found

    def _packet(self, ticks: int, aim: int) -> av.Packet | None:
        """The keyframe packet decoded at ``ticks``. A seek aims by presentation time, which the index lacks;
        aiming just before the next keyframe's decoding time lands on this keyframe, checked by its decoding time."""
        if ticks not in self.packets:
            try:
                self.container.seek(aim, stream=self.stream)
                packet = next(iter(self.container.demux(self.stream)), None)
            except av.error.FFmpegError:
                return None
            if packet is None or packet.dts != ticks or not packet.is_keyframe:
                return None
            self.packets[ticks] = packet
        return self.packets[ticks]
