import passerelle


def test_every_public_name_is_importable_and_listed_once() -> None:
    assert len(set(passerelle.__all__)) == len(passerelle.__all__)
    for name in passerelle.__all__:
        assert getattr(passerelle, name) is not None, name


def test_the_package_is_typed() -> None:
    from importlib.resources import files

    assert files("passerelle").joinpath("py.typed").is_file()
