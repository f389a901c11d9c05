from vidsteal.data.embedded import make_split
from vidsteal.data.export import export_clips
from vidsteal.data.folder import VideoFolder
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.data.transforms import ClipTransform


def test_exported_benchmark_reads_back_through_the_video_loader(tmp_path):
    cfg = BenchmarkConfig(shapes=("square", "cross"), motions=("right", "cw"), frames=6, size=32)
    data = make_split(cfg, "test", 8)
    export_clips(data, tmp_path, ext=".mp4")
    folder = VideoFolder(tmp_path, transform=ClipTransform(num_frames=6, resize=32, crop=32))
    assert folder.classes == sorted(data.classes) and len(folder) == 8 and not folder.skipped
    by_name = {}
    for i in range(len(folder)):
        clip, label = folder[i]
        by_name[folder.paths[i].split("/")[-1]] = (clip, folder.classes[label])
    for i in range(len(data)):
        clip, name = by_name[f"{i:06d}.mp4"]
        assert name == data.classes[int(data.labels[i])]
        assert clip.shape == data.clips[i].shape
        # Near-lossless encoding: decoded pixels stay close to the rendered ones.
        assert (clip.float() - data.clips[i].float()).abs().mean() < 10
