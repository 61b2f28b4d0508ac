"""HTTP routes of the catalog: parse, call a use case, shape the response."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Path, Query, Response, UploadFile, status
from fastapi.responses import FileResponse

from panthera.kernel.auth.dependencies import AdminPrincipal, OptionalPrincipal
from panthera.kernel.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    responses,
)
from panthera.kernel.pagination import PageParams
from panthera.kernel.routes import edge
from panthera.kernel.schemas import Currency
from panthera.kernel.service import runtime_of
from panthera.services.catalog import categories as category_cases
from panthera.services.catalog import images, imaging, inventory
from panthera.services.catalog import media as media_cases
from panthera.services.catalog import products as product_cases
from panthera.services.catalog.media_store import IMMUTABLE, MEDIA_PATH, DirectoryMediaStore
from panthera.services.catalog.repository import ProductQuery
from panthera.services.catalog.runtime import CatalogRuntime
from panthera.services.catalog.schemas import (
    MAX_PRICE,
    Category,
    CategoryCreate,
    CategoryList,
    CategoryUpdate,
    Image,
    ImageOrder,
    Product,
    ProductCreate,
    ProductList,
    ProductUpdate,
    SortOrder,
    StockLevel,
    StockUpdate,
)
from panthera.services.catalog.settings import MEDIA_BODY_LIMIT

Runtime = Annotated[CatalogRuntime, Depends(runtime_of)]
ProductId = Annotated[uuid.UUID, Path(alias="productId", description="ID of the product")]
ImageId = Annotated[uuid.UUID, Path(alias="imageId", description="ID of the image")]
CategoryId = Annotated[uuid.UUID, Path(alias="categoryId", description="ID of the category")]
PriceFilter = Annotated[int | None, Query(ge=0, le=MAX_PRICE, description="Minor units")]

# Anonymous reads may be kept this long by any cache, the edge's included: it bounds
# how stale a read can be after a change. Answers carry an ETag (If-None-Match: 304).
PUBLIC_READ = edge(cache_control="public, max-age=5")

MEDIA_ROUTE_LIMIT = MEDIA_BODY_LIMIT + 64 * 1024
"""An upload's body: the largest file accepted plus its multipart envelope."""

router = APIRouter()
media_files = APIRouter(tags=["Media"])
"""Served outside `/v1`, at `/media/...` (the spec's `root_router`)."""
categories = APIRouter(prefix="/categories", tags=["Categories"])
products = APIRouter(prefix="/products", tags=["Products"])


@categories.get(
    "", response_model=CategoryList, summary="List categories", openapi_extra=PUBLIC_READ
)
async def list_categories(rt: Runtime, page: PageParams) -> CategoryList:
    """A page of categories by name; `parentId` links each to its parent."""
    total, found = await category_cases.get_categories(rt=rt, offset=page.offset, limit=page.limit)
    return CategoryList(
        total=total,
        page=page.page,
        limit=page.limit,
        categories=[Category.model_validate(c) for c in found],
    )


@categories.post(
    "",
    response_model=Category,
    status_code=status.HTTP_201_CREATED,
    summary="Create a category",
    responses=responses(400, 401, 403, 409),
)
async def create_category(rt: Runtime, body: CategoryCreate, _admin: AdminPrincipal) -> Category:
    """Create a category (admin); the slug is derived from the name unless given."""
    return Category.model_validate(await category_cases.create_category(rt=rt, data=body))


@categories.get(
    "/{categoryId}",
    response_model=Category,
    summary="Get a category",
    openapi_extra=PUBLIC_READ,
    responses=responses(400, 404),
)
async def get_category(rt: Runtime, category_id: CategoryId) -> Category:
    """One category."""
    return Category.model_validate(
        await category_cases.get_category(rt=rt, category_id=category_id)
    )


@categories.put(
    "/{categoryId}",
    response_model=Category,
    summary="Update a category",
    responses=responses(400, 401, 403, 404, 409),
)
async def update_category(
    rt: Runtime, category_id: CategoryId, body: CategoryUpdate, _admin: AdminPrincipal
) -> Category:
    """Rename, re-slug or move a category (admin)."""
    return Category.model_validate(
        await category_cases.update_category(rt=rt, category_id=category_id, data=body)
    )


@categories.delete(
    "/{categoryId}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a category",
    responses=responses(400, 401, 403, 404, 409),
)
async def delete_category(rt: Runtime, category_id: CategoryId, _admin: AdminPrincipal) -> Response:
    """Delete an unused category (admin): 409 while products or sub-categories use it."""
    await category_cases.delete_category(rt=rt, category_id=category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@products.get(
    "",
    response_model=ProductList,
    summary="Search and list products",
    openapi_extra=PUBLIC_READ,
    responses=responses(400, 401, 403),
)
async def list_products(
    rt: Runtime,
    page: PageParams,
    search: Annotated[
        str | None,
        Query(max_length=200, description="Words matched in name, description, SKU, category"),
    ] = None,
    category_id: Annotated[
        uuid.UUID | None,
        Query(alias="categoryId", description="This category and its sub-categories"),
    ] = None,
    min_price: Annotated[PriceFilter, Query(alias="minPrice")] = None,
    max_price: Annotated[PriceFilter, Query(alias="maxPrice")] = None,
    in_stock: Annotated[bool | None, Query(alias="inStock")] = None,
    stock_below: Annotated[
        int | None,
        Query(
            alias="stockBelow",
            ge=1,
            le=1_000_000,
            description="Only products with fewer units available than this (admin: low stock)",
        ),
    ] = None,
    currency: Annotated[Currency | None, Query()] = None,
    sort: Annotated[
        SortOrder | None,
        Query(
            description="`relevance` (default with `search`), `price`, `-price`, "
            "`newest` (default otherwise), `name`, `available` (fewest units first)"
        ),
    ] = None,
    actor: OptionalPrincipal = None,
) -> ProductList:
    """Products matching the search and filters, a page at a time."""
    if stock_below is not None:
        # Stock levels of the whole catalog are the shop's business, not its customers'.
        if actor is None:
            raise Unauthorized("stockBelow needs an administrator's token")
        if not actor.is_admin:
            raise Forbidden("stockBelow is for administrators")
    if min_price is not None and max_price is not None and min_price > max_price:
        raise BadRequest("minPrice must not exceed maxPrice")
    text = search.strip() if search else None
    if sort == "relevance" and not text:
        sort = None  # no search, no relevance: fall back to the default order
    query = ProductQuery(
        search=text or None,
        category_id=category_id,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        stock_below=stock_below,
        currency=currency,
        sort=sort,
        offset=page.offset,
        limit=page.limit,
    )
    total, found = await product_cases.get_products(rt=rt, query=query)
    return ProductList(total=total, page=page.page, limit=page.limit, products=found)


@products.post(
    "",
    response_model=Product,
    status_code=status.HTTP_201_CREATED,
    summary="Create a product",
    responses=responses(400, 401, 403, 409),
)
async def create_product(
    rt: Runtime, body: ProductCreate, _admin: AdminPrincipal, response: Response
) -> Product:
    """Add a product with its initial stock (admin)."""
    product = await product_cases.create_product(rt=rt, data=body)
    response.headers["ETag"] = product_cases.etag(product.version)
    response.headers["Location"] = f"/v1/products/{product.id}"
    return product


@products.get(
    "/{productId}",
    response_model=Product,
    summary="Get a product",
    openapi_extra=PUBLIC_READ,
    responses=responses(400, 404),
)
async def get_product(rt: Runtime, product_id: ProductId) -> Response:
    """One product, with its version as `ETag` for a later `If-Match`."""
    # The JSON as cached, answered as it is: a hit costs no model and no encoding.
    product = await product_cases.get_product_json(rt=rt, product_id=product_id)
    return Response(product.body, media_type="application/json", headers={"ETag": product.etag})


def _entity_tags(header: str | None) -> list[str] | None:
    if header is None:
        return None
    return [tag.strip() for tag in header.split(",") if tag.strip()]


@products.put(
    "/{productId}",
    response_model=Product,
    summary="Update a product",
    responses=responses(400, 401, 403, 404, 409, 412),
)
async def update_product(
    rt: Runtime,
    product_id: ProductId,
    body: ProductUpdate,
    _admin: AdminPrincipal,
    response: Response,
    if_match: Annotated[
        str | None,
        Header(alias="If-Match", description="The `ETag` last read; 412 if it is stale."),
    ] = None,
) -> Product:
    """Change the fields sent (admin); with `If-Match`, only if nobody changed it since."""
    product = await product_cases.update_product(
        rt=rt, product_id=product_id, data=body, if_match=_entity_tags(if_match)
    )
    response.headers["ETag"] = product_cases.etag(product.version)
    return product


@products.delete(
    "/{productId}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a product",
    responses=responses(400, 401, 403, 404),
)
async def delete_product(rt: Runtime, product_id: ProductId, _admin: AdminPrincipal) -> Response:
    """Remove a product and its stock (admin)."""
    await product_cases.delete_product(rt=rt, product_id=product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@products.get(
    "/{productId}/stock",
    response_model=StockLevel,
    summary="Get a product's stock",
    openapi_extra=PUBLIC_READ,
    tags=["Inventory"],
    responses=responses(400, 404),
)
async def get_stock(rt: Runtime, product_id: ProductId) -> StockLevel:
    """Available and reserved units of a product."""
    return StockLevel.model_validate(await inventory.get_stock(rt=rt, product_id=product_id))


@products.put(
    "/{productId}/stock",
    response_model=StockLevel,
    summary="Set a product's available stock",
    tags=["Inventory"],
    responses=responses(400, 401, 403, 404),
)
async def set_stock(
    rt: Runtime, product_id: ProductId, body: StockUpdate, _admin: AdminPrincipal
) -> StockLevel:
    """Set the units available for sale (admin); units reserved by orders are kept."""
    stock = await inventory.set_stock(rt=rt, product_id=product_id, available=body.available)
    return StockLevel.model_validate(stock)


@products.post(
    "/{productId}/images",
    response_model=Image,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a product image",
    max_body_size=MEDIA_ROUTE_LIMIT,
    responses=responses(400, 401, 403, 404, 413),
)
async def upload_image(
    rt: Runtime,
    product_id: ProductId,
    _admin: AdminPrincipal,
    response: Response,
    file: Annotated[
        UploadFile, File(description="A JPEG, PNG, WebP or GIF image (judged by decoding it).")
    ],
) -> Image:
    """Add an image to a product (admin). Its metadata (EXIF, GPS) is removed; the
    thumbnail and medium sizes follow within seconds (`thumbnailUrl` is the original
    until then)."""
    limit = rt.settings.media_max_bytes
    if file.size is not None and file.size > limit:
        raise PayloadTooLarge(f"The image is over the limit of {limit} bytes")
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"The image is over the limit of {limit} bytes")
    image = await media_cases.upload_image(rt=rt, product_id=product_id, data=data)
    response.headers["Location"] = image.url
    return image


@products.delete(
    # `:uuid`: only an id matches, so `/images/order` stays the reorder route's path alone
    # (a DELETE there is 405, not an id that fails to parse).
    "/{productId}/images/{imageId:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a product image",
    responses=responses(400, 401, 403, 404),
)
async def delete_image(
    rt: Runtime, product_id: ProductId, image_id: ImageId, _admin: AdminPrincipal
) -> Response:
    """Remove an image from a product (admin); its files are removed after the commit."""
    await media_cases.delete_image(rt=rt, product_id=product_id, image_id=image_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@products.put(
    "/{productId}/images/order",
    response_model=Product,
    summary="Reorder a product's images",
    responses=responses(400, 401, 403, 404),
)
async def reorder_images(
    rt: Runtime, product_id: ProductId, body: ImageOrder, _admin: AdminPrincipal, response: Response
) -> Product:
    """Put the product's images in the order of `imageIds`, which names each once (admin)."""
    product = await media_cases.reorder_images(
        rt=rt, product_id=product_id, image_ids=body.image_ids
    )
    response.headers["ETag"] = product_cases.etag(product.version)
    return product


@media_files.get(
    MEDIA_PATH + "/{key:path}",
    summary="A product media file",
    openapi_extra=edge(cache_control=IMMUTABLE),
    response_class=Response,
    responses={200: {"content": {t: {} for t in imaging.CONTENT_TYPES.values()}}, **responses(404)},
)
async def media_file(rt: Runtime, key: str) -> Response:
    """An image or one of its sizes. Names never change meaning: cache them forever."""
    digest = images.digest_of(key)
    name, _, extension = key.rpartition("/")[2].partition(".")
    if (
        digest is None
        or name not in ("original", *imaging.SIZES)
        or (extension not in imaging.CONTENT_TYPES)
    ):
        raise NotFound("No such media file")
    headers = {"Cache-Control": IMMUTABLE, "ETag": f'"{digest}.{name}.{extension}"'}
    content_type = imaging.CONTENT_TYPES[extension]
    if isinstance(rt.media, DirectoryMediaStore):
        path = rt.media.path_of(key)
        if path.is_file():
            return FileResponse(path, media_type=content_type, headers=headers)
        raise NotFound("No such media file")
    data = await rt.media.get(key)
    if data is None:
        raise NotFound("No such media file")
    return Response(data, media_type=content_type, headers=headers)


router.include_router(categories)
router.include_router(products)
